// End to end, for real: `npm run train -- --workers 2` on the real MNIST, as the CLI
// reports it: the events on stdout and in --log-file, the report on stderr. The seed's
// result after 3 epochs (odd digits learned, even ones not) is checked once, through
// train(), by test/e2e/examples.test.ts: the CLI and train() run the same session.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tmpDir } from '../helpers.js';

interface Group { rows: number; accuracy: number; confusion: number[][] }
interface Split { odd: Group; even: Group; trueCounts: number[]; predCounts: number[] }

describe('train end to end', () => {
  it('2 workers, one epoch of 12,800 rows: the events, the same lines in --log-file, the report on stderr', () => {
    const logFile = join(tmpDir(), 'logs', 'run.ndjson');
    const r = runCli('src/cli/train.js', ['--workers', '2', '--epochs', '1', '--limit', '12800', '--log-file', logFile]);
    expect(r.status, r.stderr).toBe(0);
    const byEvent = (name: string) => r.events.filter((e) => e.event === name);
    const start = byEvent('run_start')[0];
    expect(start.numWorkers).toBe(2);
    expect(start.backend).toBe('wasm');
    expect(start.numParams).toBe(784 * 64 + 64 + 64 * 10 + 10);
    expect(byEvent('epoch_end')).toHaveLength(1);
    expect(byEvent('progress')).toHaveLength(1); // 100 steps, every 100
    const evalEvent = byEvent('eval')[0] as unknown as { train: Split; test: Split };
    expect(evalEvent.train.odd.rows + evalEvent.train.even.rows).toBe(12800);
    expect(evalEvent.test.trueCounts.reduce((a, b) => a + b)).toBe(10000);
    // Already after 100 steps the odd digits are mostly learned and the even ones not.
    expect(evalEvent.test.odd.accuracy).toBeGreaterThan(0.8);
    expect(evalEvent.test.even.accuracy).toBeLessThan(0.1);
    expect(byEvent('run_end')[0].steps).toBe(100);
    // The log file holds the same events as stdout.
    expect(readFileSync(logFile, 'utf8')).toBe(r.stdout);
    // The readable report goes to stderr.
    expect(r.stderr).toMatch(/odd-labelled rows: accuracy 0\.\d+ on \d+ rows/);
  });
});
