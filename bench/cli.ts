// Flags of the benchmark scripts, read by the trainer's own parser (src/settings/config.ts
// parseFlags) so that they answer --help and refuse a bad flag the way every command
// does: one line on stderr naming it, exit 2.
import { ConfigError, HelpRequested, parseFlags } from '../src/settings/config.js';
import { OutputError, probeDir, probeFile } from '../src/files/outputs.js';
import { intFlag as cliIntFlag } from '../src/cli/command.js';

export function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}

type Values<F> = { [K in keyof F]?: F[K] extends 'boolean' ? boolean : string };

/** The script's flags, or the usage text (exit 0) for --help, or exit 2 for a bad flag. */
export function benchFlags<F extends Record<string, 'string' | 'boolean'>>(flags: F, usage: string): Values<F> {
  try {
    return parseFlags(process.argv.slice(2), flags) as Values<F>;
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(usage);
      process.exit(0);
    }
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
}

/** An integer flag's value from `min`, `fallback` when absent; exit 2 naming it otherwise (the CLI's wording). */
export function intFlag(flag: string, text: string | undefined, fallback: number, min: number): number {
  try {
    return cliIntFlag({ [flag]: text }, flag, fallback, min);
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
}

/**
 * Probes the script's --out (a file written whole, or a directory) before any run
 * starts, so a bad path costs no benchmark time: exit 2 naming it.
 */
export function checkOut(path: string, kind: 'file' | 'dir'): void {
  try {
    if (kind === 'file') probeFile('--out', path, 'replace');
    else probeDir('--out', path);
  } catch (e) {
    if (e instanceof OutputError) fail(e.message);
    throw e;
  }
}
