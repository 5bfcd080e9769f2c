// `profile`: one shard's step timed kernel by kernel, through the CLI as users run it,
// on the built-in task (the fast path) and on an example task (the general path).
// What it guarantees, not how fast a busy machine runs: every step's kernel self
// times are measured inside that step, so their sum cannot exceed the step's time, and
// a kernel's self time cannot exceed its total.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/files/paths.js';
import type { ProfileResult } from '../../src/profile/profile.js';
import { runCli } from '../helpers.js';

const profile = (args: string[]) => runCli('src/cli/main.js', ['profile', ...args]);

function check(r: ProfileResult): void {
  expect(r.kernels.length).toBeGreaterThan(3);
  expect(r.kernelMs).toBeGreaterThan(0);
  expect(r.kernelMs).toBeLessThanOrEqual(r.stepMs.mean * (1 + 1e-9));
  expect(r.outsideMs).toBeGreaterThanOrEqual(-1e-9);
  expect(r.stepMs.min).toBeLessThanOrEqual(r.stepMs.median);
  for (const k of r.kernels) {
    expect(k.calls).toBeGreaterThan(0);
    expect(k.selfMs).toBeLessThanOrEqual(k.totalMs + 1e-9);
    expect(k.totalMs).toBeLessThanOrEqual(r.stepMs.mean * (1 + 1e-9));
  }
}

describe('profile', () => {
  it('times the built-in task on its fast path, one 64-row shard of batch 128 on 2 workers', () => {
    const run = profile(['--json', '--steps', '5', '--warmup', '2']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const r = JSON.parse(run.stdout) as ProfileResult;
    expect([r.task, r.engine, r.backend, r.rows, r.steps]).toEqual(['built-in', 'fast', 'wasm', 64, 5]);
    expect(r.kernels.map((k) => k.name)).toContain('_FusedMatMul');
    check(r);
  });

  it('times an example task on the general path, and prints a table by default', () => {
    const task = join(PROJECT_ROOT, 'examples', 'cnn-two-conv.mjs');
    const run = profile(['--task', task, '--json', '--steps', '4', '--warmup', '1', '--workers', '4']);
    expect(run.status).toBe(0);
    const r = JSON.parse(run.stdout) as ProfileResult;
    expect([r.engine, r.rows]).toEqual(['general', 32]);
    expect(r.kernels.map((k) => k.name)).toEqual(expect.arrayContaining(['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'MaxPoolGrad']));
    check(r);
    const table = profile(['--task', task, '--steps', '2', '--warmup', '0', '--rows', '3', '--top', '4']);
    expect(table.status).toBe(0);
    expect(table.stdout).toMatch(/general path, wasm backend, 3 rows a step, 2 steps timed/);
    expect(table.stdout).toMatch(/^kernel +calls +self ms +% of step +total ms/m);
    expect(table.stdout).toMatch(/more kernels \(--top\)/);
  });

  it('bad input: one line naming the flag, exit 2', () => {
    for (const [args, message] of [
      [['--steps', '0'], /^error: --steps: expected an integer from 1, got "0"\n$/],
      [['--rows'], /^error: --rows: needs a value\n$/],
      [['--workers', 'x'], /^error: --workers: expected a number, got "x"\n$/],
      [['--frobnicate'], /^error: --frobnicate: unknown flag \(see --help\)\n$/],
    ] as const) {
      const run = profile([...args]);
      expect(run.stderr).toMatch(message);
      expect(run.status).toBe(2);
    }
    expect(profile(['--help']).stdout).toMatch(/^Usage: tfjs-parallel-trainer profile/);
  });
});
