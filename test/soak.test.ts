// The soak script, short: 3 epochs of 100 steps with 2 workers; every worker's tensor
// count stays constant (the trainer also checks it after every step) and RSS stays flat.
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers.js';

describe('soak (short)', () => {
  it('300 steps: constant tensor counts per worker, RSS within 10% after the first epoch', () => {
    const r = runCli('bench/soak.js', ['--epochs', '3', '--limit', '12800']);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { epochs: number; tensorsConstant: boolean; ok: boolean };
    expect(summary).toMatchObject({ epochs: 3, tensorsConstant: true, ok: true });
  });
});
