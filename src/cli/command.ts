// The frame every command shares: required and integer flags with one wording, and the
// one mapping from an error to an exit code (2 bad input, 1 anything else).
import { CheckpointError } from '../checkpoint/checkpoint.js';
import { ConfigError, HelpRequested } from '../settings/config.js';
import { DataError } from '../data/idx.js';
import { OutputError } from '../files/outputs.js';
import { ReportInputError } from '../report/log-input.js';
import { TaskError } from '../task/contract.js';

export type FlagValues = Partial<Record<string, string | boolean>>;

export function requiredFlag(values: FlagValues, flag: string, what: string): string {
  const v = values[flag];
  if (typeof v !== 'string' || v === '') throw new ConfigError(`--${flag}: required (${what}; see --help)`);
  return v;
}

/**
 * An integer flag from `min` (to `max`), or `fallback` when absent. The wording is the
 * config's: `--rows: expected an integer from 1, got "0"`.
 */
export function intFlag(values: FlagValues, flag: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const text = values[flag];
  if (typeof text !== 'string') return fallback;
  const n = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(n)) throw new ConfigError(`--${flag}: expected a number, got "${text}"`);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`--${flag}: expected an integer from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}, got "${text}"`);
  }
  return n;
}

/** Bad input (a flag, a config, a data file, a checkpoint, an output path, a log): the user can fix it. */
export function isInputError(e: unknown): e is Error {
  return e instanceof ConfigError || e instanceof DataError || e instanceof CheckpointError || e instanceof OutputError || e instanceof ReportInputError || e instanceof TaskError;
}

/** 2 for bad input, 1 for any other failure. */
export const exitCodeOf = (e: unknown): 1 | 2 => (isInputError(e) ? 2 : 1);

/**
 * The CLI frame: --help prints `help` (exit 0); an error is one `error:` line on stderr
 * and its exit code (exitCodeOf).
 */
export async function runCommand(help: string, body: () => Promise<void>): Promise<number> {
  try {
    await body();
    return 0;
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(help);
      return 0;
    }
    process.stderr.write(`error: ${(e as Error).message.split('\n')[0]}\n`);
    return exitCodeOf(e);
  }
}
