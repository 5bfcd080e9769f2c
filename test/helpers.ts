// Shared by the tests: the real MNIST data, loaded once; runs planned as the CLI and
// train() plan them; and running the CLI for real.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinMnistDir, loadIdxDataset } from '../src/data/idx.js';
import type { Dataset } from '../src/data/idx.js';
import { PROJECT_ROOT } from '../src/files/paths.js';
import { pino } from 'pino';
import { createPool } from '../src/engine/pool.js';
import type { Config } from '../src/settings/config.js';
import type { RunLimits, RunPlan } from '../src/run/plan.js';
import { prepareRun } from '../src/run/prepare.js';
import { loadShared, workerInit } from '../src/run/start.js';
import { runPlan } from '../src/run/coordinator.js';
import type { RunSummary } from '../src/run/coordinator.js';

let mnist: Dataset<Uint8Array> | undefined;
export function mnistData(): Dataset<Uint8Array> {
  return (mnist ??= loadIdxDataset(builtinMnistDir(), 10));
}

/** The plan of a run of `config` on `data`, made as the CLI and train() make it (prepareRun: every check, the model path chosen and built). */
export async function planOf(config: Config, limits: RunLimits = {}, data: Dataset = mnistData()): Promise<RunPlan> {
  return (await prepareRun(() => config, () => data, undefined, limits)).plan;
}

/** A run of `config`, planned as the CLI plans it, logging nothing. */
export async function trainPlanned(config: Config, limits: RunLimits = {}, data: Dataset = mnistData()): Promise<RunSummary> {
  return runPlan(await planOf(config, limits, data), pino({ level: 'silent' }), data);
}

/** A plan's shared memory with its first weights, and a pool of one thread per worker (for oneStepGradient). */
export async function startPlan(plan: RunPlan, data: Dataset = mnistData()) {
  const shared = loadShared(data, plan);
  plan.model.init(shared.views.weights);
  const wp = await createPool(workerInit(shared.buffers, plan), plan.config.workers);
  return { ...shared, wp };
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
