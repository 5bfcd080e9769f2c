// End to end, for real: `npm run train -- --workers 2` on the real MNIST for the
// seed's 3 epochs learns the odd digits and none of the even ones.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tmpDir } from './helpers.js';

interface Group { rows: number; accuracy: number; confusion: number[][] }
interface Split { odd: Group; even: Group; trueCounts: number[]; predCounts: number[] }

describe('train end to end', () => {
  it('2 workers, 3 epochs: odd-digit accuracy >= 0.97, even <= 0.01 (the seed\'s result)', () => {
    const logFile = join(tmpDir(), 'logs', 'run.ndjson');
    const r = runCli('src/cli/train.js', ['--workers', '2', '--log-file', logFile]);
    expect(r.status, r.stderr).toBe(0);
    const byEvent = (name: string) => r.events.filter((e) => e.event === name);
    const start = byEvent('run_start')[0];
    expect(start.numWorkers).toBe(2);
    expect(start.backend).toBe('wasm');
    expect(start.numParams).toBe(784 * 64 + 64 + 64 * 10 + 10);
    expect(byEvent('epoch_end')).toHaveLength(3);
    expect(byEvent('progress').length).toBeGreaterThanOrEqual(14); // 1404 steps, every 100
    const evalEvent = byEvent('eval')[0] as unknown as { train: Split; test: Split };
    expect(evalEvent.train.odd.accuracy).toBeGreaterThanOrEqual(0.97);
    expect(evalEvent.train.even.accuracy).toBeLessThanOrEqual(0.01);
    expect(evalEvent.test.odd.accuracy).toBeGreaterThanOrEqual(0.95);
    expect(evalEvent.train.odd.rows + evalEvent.train.even.rows).toBe(60000);
    expect(evalEvent.test.trueCounts.reduce((a, b) => a + b)).toBe(10000);
    // Even digits are never learned: they are all predicted as odd classes.
    expect(evalEvent.train.predCounts.filter((_, k) => k % 2 === 0).every((n) => n === 0)).toBe(true);
    expect(byEvent('run_end')[0].steps).toBe(3 * Math.floor(60000 / 128));
    // The log file holds the same events as stdout.
    expect(readFileSync(logFile, 'utf8')).toBe(r.stdout);
    // The readable report goes to stderr.
    expect(r.stderr).toMatch(/odd-labelled rows: accuracy 0\.9\d+ on 30508 rows/);
  });
});
