// Worker faults, injected for real (TRAINER_FAULTS, see src/engine/faults.ts): a worker that
// throws, a thread that exits mid-task and a thread that hangs are each survived with an
// unchanged result; a shard that keeps failing and a non-finite gradient stop the run.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listCheckpoints } from '../../src/checkpoint/checkpoint.js';
import { runCli, tmpDir } from '../helpers.js';

const RUN = ['--epochs', '1', '--limit', '3200', '--progress-every', '5']; // 25 steps
const weights = (dir: string) => readFileSync(join(dir, listCheckpoints(dir).at(-1)!, 'weights.bin'));

describe('worker faults', () => {
  // The reference every faulted run must equal: a clean run of the same steps.
  const clean = tmpDir();
  beforeAll(() => {
    const r = runCli('src/cli/train.js', [...RUN, '--checkpoint-dir', clean]);
    if (r.status !== 0) throw new Error(`the clean reference run failed: ${r.stderr}`);
  });

  it('throw, exit and hang are each detected, logged and recomputed: the weights equal the clean run byte for byte', () => {
    const dir = tmpDir();
    const r = runCli('src/cli/train.js', [...RUN, '--checkpoint-dir', dir, '--step-timeout', '3000'], { TRAINER_FAULTS: 'throw@5:1,exit@9:0,hang@12:1' });
    expect(r.status, r.stderr).toBe(0);
    const faults = r.events.filter((e) => e.event === 'worker_fault');
    expect(faults.map((f) => [f.step, f.workerIndex, f.retry, f.fatal])).toEqual([[5, 1, 1, false], [9, 0, 1, false], [12, 1, 1, false]]);
    expect(faults[0].cause).toBe('injected fault: throw at step 5, shard 1');
    expect(faults[1].cause).toBe('worker exited with code: 3');
    expect(faults[2].cause).toBe('no result within --step-timeout 3000 ms (thread terminated)');
    expect(weights(dir).equals(weights(clean))).toBe(true);
  });

  it('--clip-norm: a thread that hangs at the clipping barrier is the one restarted (not a peer waiting there); the weights equal the clean clipped run', () => {
    const args = [...RUN, '--clip-norm', '0.05', '--workers', '3', '--threads', '3', '--step-timeout', '3000'];
    const cleanClip = tmpDir();
    expect(runCli('src/cli/train.js', [...args, '--checkpoint-dir', cleanClip]).status).toBe(0);
    const dir = tmpDir();
    const r = runCli('src/cli/train.js', [...args, '--checkpoint-dir', dir], { TRAINER_FAULTS: 'hangupdate@12:2' });
    expect(r.status, r.stderr).toBe(0);
    const faults = r.events.filter((e) => e.event === 'worker_fault');
    expect(faults.map((f) => [f.step, f.workerIndex, f.retry, f.fatal])).toEqual([[12, 2, 1, false]]);
    expect(weights(dir).equals(weights(cleanClip))).toBe(true);
  });

  it('a shard failing --max-retries times in a row stops the run: checkpoint of the last completed step, exit 1', () => {
    const dir = tmpDir();
    const r = runCli('src/cli/train.js', [...RUN, '--checkpoint-dir', dir, '--max-retries', '2'], { TRAINER_FAULTS: 'throw@7:1!' });
    expect(r.status).toBe(1);
    const faults = r.events.filter((e) => e.event === 'worker_fault');
    expect(faults.map((f) => [f.step, f.workerIndex, f.retry, f.fatal])).toEqual([[7, 1, 1, false], [7, 1, 2, true]]);
    expect(r.events.find((e) => e.event === 'checkpoint' && e.reason === 'shard_failed')?.step).toBe(7);
    expect(listCheckpoints(dir)).toEqual(['ckpt-000000007']);
    expect(r.events.at(-1)).toMatchObject({ event: 'run_failed', code: 'E_SHARD_FAILED' });
    expect(r.stderr.trim()).toBe('error: step 7: shard 1 failed 2 times in a row; last cause: injected fault: throw at step 7, shard 1');
  });

  it('a non-finite gradient stops the run naming the step and shard; the last good checkpoint is kept', () => {
    const dir = tmpDir();
    const r = runCli('src/cli/train.js', [...RUN, '--checkpoint-dir', dir, '--checkpoint-every', '5'], { TRAINER_FAULTS: 'nan@8:0' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('error: step 8: shard 0 produced a non-finite gradient');
    expect(listCheckpoints(dir)).toEqual(['ckpt-000000005']);
    expect(r.events.filter((e) => e.event === 'worker_fault')).toHaveLength(0);
    expect(r.events.at(-1)).toMatchObject({ event: 'run_failed', code: 'E_NON_FINITE' });
  });
});
