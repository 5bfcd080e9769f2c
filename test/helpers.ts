// Shared by the tests: the real MNIST data, loaded once, and running the CLI for real.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinMnistDir, loadIdxDataset } from '../src/data/idx.js';
import type { Dataset } from '../src/data/idx.js';
import { PROJECT_ROOT } from '../src/run/paths.js';

let mnist: Dataset<Uint8Array> | undefined;
export function mnistData(): Dataset<Uint8Array> {
  return (mnist ??= loadIdxDataset(builtinMnistDir(), 10));
}

export function tmpDir(prefix = 'trainer-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as NDJSON events. */
  events: Record<string, unknown>[];
}

/** Runs `node dist/<script>` with args, as `npm run ...` would. */
export function runCli(script: string, args: string[], env: Record<string, string> = {}, timeoutMs = 300_000): CliRun {
  const r = spawnSync(process.execPath, [join(PROJECT_ROOT, 'dist', script), ...args], {
    cwd: PROJECT_ROOT, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...env },
  });
  const events = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, events };
}

export { maxRelDiff } from '../bench/exactness.js';
