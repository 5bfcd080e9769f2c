// The soak script, short: 4 epochs of 100 steps with 2 workers, each thread's garbage
// collected in full at every epoch's end: every worker's tensor count and wasm memory
// stay constant (the trainer also checks the tensor count after every step), its heap
// flat, and RSS in the second half no higher than the first half's.
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers.js';

describe('soak (short)', () => {
  it('400 steps: constant tensor counts and wasm memory per worker, flat heaps and RSS', () => {
    const r = runCli('bench/soak.js', ['--epochs', '4', '--limit', '12800']);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { epochs: number; tensorsConstant: boolean; workerHeapBaseMB: number[]; ok: boolean };
    expect(summary).toMatchObject({ epochs: 4, tensorsConstant: true, ok: true });
    expect(summary.workerHeapBaseMB).toHaveLength(2);
    expect(r.stdout).toMatch(/\| 3 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| /);
  });
});
