// --workers N above the thread count: N shards on fewer step-loop threads, each thread
// running its shards one after the other, must train exactly as N threads do (every
// shard still has its own gradient slab and the reduce sums them in shard order), on
// the fast path and on the general path (BatchNorm's statistics from the first shard,
// Dropout seeded by each shard's first row); and run_start says how many threads ran.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { pino } from 'pino';
import { train } from '../../src/index.js';
import { resolveConfig } from '../../src/run/config.js';
import { PROJECT_ROOT } from '../../src/run/paths.js';
import { runTraining } from '../../src/run/train.js';
import { mnistData, runCli, tmpDir } from '../helpers.js';

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('N workers on fewer threads', () => {
  it('4 workers on 1, 2, 3 and 4 threads end with byte-identical weights after 20 steps (normal mode)', async () => {
    const weights: Float32Array[] = [];
    for (const threads of [4, 1, 2, 3]) {
      const config = resolveConfig(['--workers', '4', '--threads', String(threads), '--epochs', '1', '--limit', '2560', '--seed', '9']);
      const r = await runTraining(config, pino({ level: 'silent' }), mnistData(), { evaluate: false });
      expect(r.steps).toBe(20);
      weights.push(r.weights);
    }
    for (const w of weights.slice(1)) expect(bytes(w).equals(bytes(weights[0]))).toBe(true);
    // Not vacuous: 4 threads and 2 workers (other shards, other float sums) differ.
    const two = await runTraining(resolveConfig(['--workers', '2', '--epochs', '1', '--limit', '2560', '--seed', '9']), pino({ level: 'silent' }), mnistData(), { evaluate: false });
    expect(bytes(two.weights).equals(bytes(weights[0]))).toBe(false);
  }, 120_000);

  it('a task with BatchNorm and Dropout: 3 workers on 1 thread equal 3 threads byte for byte', async () => {
    const run = (threads: number) => train({
      task: join(PROJECT_ROOT, 'examples', 'batchnorm-dropout.mjs'), workers: 3, threads, epochs: 1, limit: 600, batchSize: 60, seed: 4,
    });
    const [one, three] = [await run(1), await run(3)];
    expect(one.steps).toBe(10);
    expect(bytes(one.weights).equals(bytes(three.weights))).toBe(true);
  }, 120_000);

  it('a resumed run takes this machine\'s threads, not the checkpoint\'s (fewer workers than its --threads resume)', () => {
    const dir = join(tmpDir(), 'ckpt');
    const first = runCli('src/cli/train.js', ['--workers', '2', '--threads', '2', '--epochs', '1', '--limit', '640', '--checkpoint-dir', dir]);
    expect(first.status, first.stderr).toBe(0);
    const resumed = runCli('src/cli/train.js', ['--resume', dir, '--workers', '1', '--epochs', '2']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.events.find((e) => e.event === 'run_start')).toMatchObject({ numThreads: 1, config: { workers: 1, threads: null } });
  }, 120_000);

  it('run_start logs the threads; --threads above --workers is refused', () => {
    const r = runCli('src/cli/train.js', ['--workers', '3', '--threads', '2', '--epochs', '1', '--limit', '384']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.events.find((e) => e.event === 'run_start')).toMatchObject({ numWorkers: 3, numThreads: 2, config: { workers: 3, threads: 2 } });
    expect(r.events.filter((e) => e.event === 'worker_ready')).toHaveLength(2);
    const bad = runCli('src/cli/train.js', ['--workers', '2', '--threads', '3']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe('error: --threads: 3 is more than --workers 2; a thread runs at least one worker\'s shard');
  }, 120_000);
});
