// User config -> resolved config: the defaults of the settings table, then a --config
// file, then flags (or train()'s options). Every key is checked once here, by the
// table's checks; errors name the key or flag, the value and what is allowed, and are
// one line.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { parse as parseJsonc, printParseErrorCode } from 'jsonc-parser';
import type { ParseError } from 'jsonc-parser';
import { maskToString, parseMask } from '../model/labels.js';
import type { MaskRule } from '../model/labels.js';
import { helpText } from './render.js';
import { ENTRIES, SETTINGS, defaults, settingOf } from './settings.js';
import type { Flag, SettingValues } from './settings.js';
import type { OptimizerConfig } from '../optim/optimizers.js';
import type { LrSchedule } from '../optim/schedules.js';

export class ConfigError extends Error {
  readonly code = 'E_CONFIG';
}

/**
 * A resolved config: the settings table's values (src/settings/settings.ts), with the
 * mask parsed once here (`--mask odd` -> { kind: 'odd' }); configJson() gives its text back.
 */
export interface Config extends Omit<SettingValues, 'mask'> {
  mask: MaskRule;
}

/** Reads a JSON-with-comments config file; checks it against the settings table (partial is fine). */
export function readConfigFile(path: string): Partial<Config> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`${path}: cannot read config file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const errors: ParseError[] = [];
  const value: unknown = parseJsonc(text, errors, { allowTrailingComma: true, disallowComments: false });
  if (errors.length > 0) {
    const e = errors[0];
    const line = text.slice(0, e.offset).split('\n').length;
    throw new ConfigError(`${path}: not valid JSON-with-comments at line ${line} (${printParseErrorCode(e.error)})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${path}: expected an object of settings at the top level`);
  }
  for (const [key, v] of Object.entries(value)) {
    const spec = settingOf(key);
    if (!spec) throw new ConfigError(`${path}: unknown key "${key}" (allowed: ${Object.keys(SETTINGS).join(', ')})`);
    const allowed = spec.check(v);
    if (allowed) throw new ConfigError(`${path}: key "${key}" has value ${JSON.stringify(v)}; expected ${allowed}`);
  }
  return value as Partial<Config>;
}

export const HELP = helpText();

/** Thrown for --help: not an error, exits 0 after printing HELP. */
export class HelpRequested extends Error {}

function flagValue(flag: string, text: string, kind: Flag['kind']): unknown {
  if (kind === 'string') return text;
  if (kind === 'numbers') {
    const list = text.split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));
    if (!list.every(Number.isFinite)) throw new ConfigError(`--${flag}: expected numbers separated by commas, got "${text}"`);
    return list;
  }
  const n = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(n)) throw new ConfigError(`--${flag}: expected a number, got "${text}"`);
  return n;
}

/**
 * argv -> flag values, shared by every command: `--flag value` or `--flag=value`; an
 * unknown flag, a missing value or a stray argument is a one-line ConfigError; --help
 * throws HelpRequested.
 */
export function parseFlags<K extends string>(argv: string[], flags: Record<K, 'string' | 'boolean'>): Partial<Record<K, string | boolean>> {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const [name, type] of Object.entries(flags) as [K, 'string' | 'boolean'][]) options[name] = { type };
  // `--flag value` -> `--flag=value`, so a value that starts with '-' is read as the
  // value (and then rejected by its check) rather than as an unknown flag.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith('--') && !argv[i].includes('=') ? argv[i].slice(2) : '';
    if (options[name]?.type === 'string' && i + 1 < argv.length && !argv[i + 1].startsWith('--')) args.push(`${argv[i]}=${argv[++i]}`);
    else args.push(argv[i]);
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    const msg = (e as Error).message;
    const unknown = /Unknown option '([^']+)'/.exec(msg);
    if (unknown) throw new ConfigError(`${unknown[1]}: unknown flag (see --help)`);
    const missing = /Option '(--[\w-]+)[^']*' argument missing/.exec(msg);
    if (missing) throw new ConfigError(`${missing[1]}: needs a value`);
    const positional = /Unexpected argument '([^']+)'/.exec(msg);
    if (positional) throw new ConfigError(`${positional[1]}: unexpected argument (flags start with --; see --help)`);
    throw new ConfigError(msg.split('\n')[0]);
  }
  if (values.help) throw new HelpRequested();
  return values as Partial<Record<K, string | boolean>>;
}

/**
 * argv (after `--`) -> resolved config: defaults < `base` (a resumed checkpoint's config)
 * < --config file < flags. Throws ConfigError with a one-line message.
 */
export function resolveConfig(argv: string[], base?: ConfigBase, crossChecks = true): Config {
  const flags: Record<string, 'string' | 'boolean'> = { config: 'string' };
  for (const [, { flag }] of ENTRIES) if (flag) flags[flag.name] = flag.kind === 'boolean' ? 'boolean' : 'string';
  const values = parseFlags(argv, flags);
  const config = startFrom(base);
  if (typeof values.config === 'string') Object.assign(config, readConfigFile(values.config));
  for (const [key, { flag, check }] of ENTRIES) {
    if (!flag) continue;
    const text = values[flag.name];
    if (text === true) {
      config[key] = true;
      continue;
    }
    if (typeof text !== 'string') continue;
    const value = flagValue(flag.name, text, flag.kind);
    const allowed = check(value);
    if (allowed) throw new ConfigError(`--${flag.name}: expected ${allowed}, got "${text}"`);
    config[key] = value;
  }
  return finish(config, crossChecks);
}

/**
 * train()'s settings -> resolved config: defaults < `base` < `settings`, with the CLI's
 * checks and messages (a key is named by its flag: `--workers: expected an integer from
 * 1 to 256, got 0`; keys without one by their name); an unknown key is refused.
 */
export function resolveSettings(settings: Record<string, unknown>, base?: ConfigBase, crossChecks = true): Config {
  const config = startFrom(base);
  for (const [key, v] of Object.entries(settings)) {
    if (v === undefined) continue;
    const spec = settingOf(key);
    if (!spec) throw new ConfigError(`train(): unknown option "${key}" (allowed: ${Object.keys(SETTINGS).join(', ')})`);
    const allowed = spec.check(v);
    if (allowed) throw new ConfigError(`${spec.flag ? `--${spec.flag.name}` : key}: expected ${allowed}, got ${JSON.stringify(v)}`);
    config[key] = v;
  }
  return finish(config, crossChecks);
}

/** A checkpoint's stored config, to resume from: its settings come before the user's. */
export interface ConfigBase {
  name: string;
  config: Record<string, unknown>;
}

/**
 * The defaults, then a checkpoint's settings over them. The defaults come from the
 * table, not from config/default.jsonc: that file is their documentation, written from
 * the table and kept current by a test, so editing it changes nothing.
 */
function startFrom(base: ConfigBase | undefined): Record<string, unknown> {
  const config: Record<string, unknown> = defaults();
  if (base) {
    // Keys a newer version added are taken from the defaults; unknown ones are refused.
    for (const [key, v] of Object.entries(base.config)) {
      const spec = settingOf(key);
      if (!spec) throw new ConfigError(`${base.name}: unknown config key "${key}"`);
      const allowed = spec.check(v);
      if (allowed) throw new ConfigError(`${base.name}: config key "${key}" has value ${JSON.stringify(v)}; expected ${allowed}`);
      config[key] = v;
    }
  }
  return config;
}

/**
 * Checks across keys (unless `crossChecks` is false: a first look at the flags, before a
 * resumed checkpoint's settings are under them), and the mask parsed once for everything after.
 */
function finish(config: Record<string, unknown>, crossChecks = true): Config {
  // Checked key by key already, so the rule parses.
  const rule = parseMask(String(config.mask));
  if (typeof rule === 'string') throw new ConfigError(`mask: expected ${rule}, got ${JSON.stringify(config.mask)}`);
  const c = { ...config, mask: rule } as unknown as Config;
  if (crossChecks) checkAcrossKeys(c);
  return c;
}

/** The checks that relate two settings (a resumed run makes them once its checkpoint's settings are under the flags). */
export function checkAcrossKeys(c: Config): void {
  if (c.threads !== null && c.threads > c.workers) {
    throw new ConfigError(`--threads: ${c.threads} is more than --workers ${c.workers}; a thread runs at least one worker's shard`);
  }
  if (c.batchSize < c.workers) {
    throw new ConfigError(`--batch-size: ${c.batchSize} is smaller than --workers ${c.workers}; every worker needs at least one row`);
  }
  // What each learning-rate schedule needs.
  const needs = (flag: string, what: string) => new ConfigError(`--lr-schedule ${c.lrSchedule}: needs ${flag} (${what})`);
  if ((c.lrSchedule === 'exponential' || c.lrSchedule === 'cosine') && c.decaySteps === null) throw needs('--decay-steps N', c.lrSchedule === 'cosine' ? 'the steps to decay over' : 'the steps per --decay-rate');
  if (c.lrSchedule === 'exponential' && c.decayRate === null) throw needs('--decay-rate X', 'the factor per --decay-steps steps');
  if (c.lrSchedule === 'piecewise' && (c.boundaries.length === 0 || c.lrValues.length !== c.boundaries.length + 1)) {
    throw needs('--boundaries S1,... and --lr-values X0,X1,...', `one more rate than boundaries; got ${c.boundaries.length} boundaries and ${c.lrValues.length} rates`);
  }
}

/**
 * The step-loop threads a run starts: --threads, else one per worker up to the cores
 * this process may use (more threads than cores would take turns on them at every
 * step's barriers; the shards of the rest run one after the other in those threads).
 */
export function threadsOf(c: Pick<Config, 'workers' | 'threads'>): number {
  return c.threads ?? Math.min(c.workers, availableParallelism());
}

/** The optimiser's settings of a config (its `lr` the schedule's first rate; momentum's default follows the optimiser). */
export function optimizerOf(c: Config): OptimizerConfig {
  return {
    optimizer: c.optimizer, lr: c.lr, beta1: c.beta1, beta2: c.beta2, eps: c.eps,
    momentum: c.momentum ?? (c.optimizer === 'momentum' ? 0.9 : 0), useNesterov: c.useNesterov,
    decay: c.decay, centered: c.centered, initialAccumulatorValue: c.initialAccumulatorValue, weightDecay: c.weightDecay,
  };
}

/** The learning rate's schedule of a config. */
export function lrScheduleOf(c: Config): LrSchedule {
  return {
    schedule: c.lrSchedule, lr: c.lr, decaySteps: c.decaySteps ?? 1, decayRate: c.decayRate ?? 1, staircase: c.staircase,
    boundaries: c.boundaries, values: c.lrValues, alpha: c.alpha, warmupSteps: c.warmupSteps,
  };
}

/** A resolved config as its settings are written (logs, checkpoints): the mask rule as its text. */
export type ConfigJson = Omit<Config, 'mask'> & { mask: string };

export function configJson(c: Config): ConfigJson {
  return { ...c, mask: maskToString(c.mask) };
}

/** The resolved defaults (the settings table's): what "not set" means for the built-in task's settings. */
export function defaultConfig(): Config {
  return finish(startFrom(undefined));
}
