// The README's example program, run as a user runs it (node, importing the package by
// its name): it prints the History and the seed's result after 3 epochs, the one test
// of the seed's published result (odd digits learned, even digits not).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/files/paths.js';

describe('examples/from-code.mjs', () => {
  it('trains 3 epochs and prints the history and the report: odd >= 0.97, even <= 0.01', () => {
    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, 'examples', 'from-code.mjs')], { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^epoch 0: loss [\d.]+, \d+ samples\/s\nepoch 1: .*\nepoch 2: /);
    expect(r.stdout).toContain('epoch: [ 0, 1, 2 ]');
    const m = /test set: odd digits ([\d.]+) on 5074 rows, even digits ([\d.]+) on 4926 rows/.exec(r.stdout)!;
    expect(Number(m[1])).toBeGreaterThanOrEqual(0.97);
    expect(Number(m[2])).toBeLessThanOrEqual(0.01);
    expect(r.stdout).toContain('50890 weights in 4 parameters: dense/kernel [784,64], dense/bias [64], dense_1/kernel [64,10], dense_1/bias [10]');
  });
});
