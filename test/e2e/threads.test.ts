// --workers N above the thread count: N shards on fewer step-loop threads, each thread
// running its shards one after the other, must train exactly as N threads do (every
// shard still has its own gradient slab and the reduce sums them in shard order), on
// the fast path and on the general path (BatchNorm's statistics from the first shard,
// Dropout seeded by each shard's first row); and run_start says how many threads ran.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { train } from '../../src/index.js';
import { resolveConfig } from '../../src/settings/config.js';
import { PROJECT_ROOT } from '../../src/files/paths.js';
import { listCheckpoints } from '../../src/checkpoint/checkpoint.js';
import { runCli, tmpDir, trainPlanned } from '../helpers.js';

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('N workers on fewer threads', () => {
  it('4 workers on 1, 2, 3 and 4 threads end with byte-identical weights after 20 steps (normal mode)', async () => {
    const weights: Float32Array[] = [];
    for (const threads of [4, 1, 2, 3]) {
      const config = resolveConfig(['--workers', '4', '--threads', String(threads), '--epochs', '1', '--limit', '2560', '--seed', '9']);
      const r = await trainPlanned(config, { evaluate: false });
      expect(r.steps).toBe(20);
      weights.push(r.weights);
    }
    for (const w of weights.slice(1)) expect(bytes(w).equals(bytes(weights[0]))).toBe(true);
    // Not vacuous: 4 threads and 2 workers (other shards, other float sums) differ.
    const two = await trainPlanned(resolveConfig(['--workers', '2', '--epochs', '1', '--limit', '2560', '--seed', '9']), { evaluate: false });
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

  it('more threads than micro-shards (threads with no rows) train as one worker does, on both paths', async () => {
    const fast = (workers: number) => trainPlanned(resolveConfig(['--workers', String(workers), '--threads', String(workers), '--deterministic', '--micro-shard-rows', '64',
      '--epochs', '1', '--limit', '1280', '--seed', '3']), { evaluate: false });
    const [one, four] = [await fast(1), await fast(4)]; // batch 128: 2 micro-shards, 2 threads with none
    expect(bytes(four.weights).equals(bytes(one.weights))).toBe(true);
    const general = (workers: number) => train({
      task: join(PROJECT_ROOT, 'examples', 'batchnorm-dropout.mjs'), workers, threads: workers, deterministic: true, microShardRows: 30,
      epochs: 1, limit: 300, batchSize: 60, seed: 4,
    });
    const [g1, g3] = [await general(1), await general(3)]; // 2 micro-shards on 3 threads
    expect(bytes(g3.weights).equals(bytes(g1.weights))).toBe(true);
  }, 120_000);

  it('a thread of two shards that throws or exits is retried, and the weights equal the clean run\'s', () => {
    const run = ['--workers', '4', '--threads', '2', '--epochs', '1', '--limit', '1920', '--step-timeout', '5000'];
    const clean = join(tmpDir(), 'ckpt');
    const faulted = join(tmpDir(), 'ckpt');
    expect(runCli('src/cli/train.js', [...run, '--checkpoint-dir', clean]).status).toBe(0);
    const r = runCli('src/cli/train.js', [...run, '--checkpoint-dir', faulted], { TRAINER_FAULTS: 'throw@5:1,exit@9:0' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.events.filter((e) => e.event === 'worker_fault').map((e) => [e.step, e.workerIndex])).toEqual([[5, 1], [9, 0]]);
    const weights = (d: string) => readFileSync(join(d, listCheckpoints(d).at(-1)!, 'weights.bin'));
    expect(weights(faulted).equals(weights(clean))).toBe(true);
  }, 120_000);

  it('a resumed run takes this machine\'s threads, not the checkpoint\'s (fewer workers than its --threads resume)', () => {
    const dir = join(tmpDir(), 'ckpt');
    const first = runCli('src/cli/train.js', ['--workers', '2', '--threads', '2', '--epochs', '1', '--limit', '640', '--checkpoint-dir', dir]);
    expect(first.status, first.stderr).toBe(0);
    const resumed = runCli('src/cli/train.js', ['--resume', dir, '--workers', '1', '--epochs', '2']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.events.find((e) => e.event === 'run_start')).toMatchObject({ numThreads: 1, config: { workers: 1, threads: null } });
    // --threads is checked against the checkpoint's --workers 4, not the default's 2.
    const dir4 = join(tmpDir(), 'ck4');
    const four = runCli('src/cli/train.js', ['--workers', '4', '--threads', '2', '--epochs', '1', '--limit', '640', '--checkpoint-dir', dir4]);
    expect(four.status, four.stderr).toBe(0);
    const more = runCli('src/cli/train.js', ['--resume', dir4, '--threads', '3', '--epochs', '2']);
    expect(more.status, more.stderr).toBe(0);
    expect(more.events.find((e) => e.event === 'run_start')).toMatchObject({ numThreads: 3, config: { workers: 4, threads: 3 } });
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
