// Smoke tests of the benchmark scripts: they run end to end on a tiny configuration and
// write JSON with the promised fields. No timing is asserted (machines are noisy).
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tmpDir } from '../helpers.js';

// About 75 s on an idle 2-core machine, 220 s with both cores loaded: the bound is generous.
const QUICK_BENCH_MS = 600_000;

describe('npm run bench -- --quick', () => {
  it('measures baseline A and the trainer with 1, 2, 4 workers and writes the JSON table', () => {
    const out = join(tmpDir(), 'latest.json');
    const r = runCli('bench/run.js', ['--quick', '--out', out], {}, QUICK_BENCH_MS);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('| contender | batch |');
    const j = JSON.parse(readFileSync(out, 'utf8'));
    expect(j.machine.nproc).toBeGreaterThan(0);
    // On fewer than 4 cores, also 4 workers on 4 threads (what --workers 4 did before).
    const over = j.machine.nproc < 4 ? [[4, 128, 4]] : [];
    expect(j.contenders.map((c: { workers: number | null; batchSize: number; threads?: number }) => [c.workers, c.batchSize, ...(c.threads ? [c.threads] : [])]))
      .toEqual([[null, 128], [1, 128], [2, 128], [4, 128], [1, 512], [2, 512], ...over]);
    for (const c of j.contenders) {
      for (const k of ['epochSeconds', 'secondEpochSeconds', 'samples', 'samplesPerSec', 'stepMsMedian', 'stepMsP90', 'timeToFirstStepMs', 'peakRssMB']) {
        expect(c.median[k], `${c.name} ${k}`).toBeGreaterThan(0);
      }
    }
    expect(j.targets).toHaveLength(11);
    // The quick start's wall time and the machine's ceiling (npm run bench:cores) are measured too.
    expect(j.quickStartSeconds.median[1]).toBeGreaterThan(0);
    expect(j.quickStartSeconds.median[2]).toBeGreaterThan(0);
    expect(j.ceiling.aloneMs).toBeGreaterThan(0);
    expect(j.ceiling.ceiling).toBeGreaterThan(0);
    expect(r.stdout).toContain('npm run train -- --workers N');
    // Each target's verdict follows from its value and the threshold its text states.
    for (const t of j.targets as { target: string; value: number; ok: boolean }[]) {
      const m = /([<>]=) ([\d.]+)(%?)/.exec(t.target)!;
      const threshold = Number(m[2]) / (m[3] === '%' ? 100 : 1);
      expect(Number.isFinite(t.value), t.target).toBe(true);
      expect(t.ok, t.target).toBe(m[1] === '>=' ? t.value >= threshold : t.value <= threshold);
    }
    expect(j.breakdown2Workers128).toHaveProperty('computeMs');
    // The task-module rows: the general path, baseline C and the CNN example, each measured.
    expect(j.tasks.contenders.map((c: { name: string }) => c.name)).toEqual([
      'trainer --engine general, 1 worker', 'trainer --engine general, 2 workers', 'baseline C (CNN, fitDataset, cpu backend)',
      'trainer, CNN example, 1 worker', 'trainer, CNN example, 2 workers',
    ]);
    for (const c of j.tasks.contenders) for (const k of ['epochSeconds', 'stepMsMedian', 'peakRssMB']) expect(c.median[k], `${c.name} ${k}`).toBeGreaterThan(0);
    expect(j.tasks.targets.every((t: { value: number }) => Number.isFinite(t.value) && t.value > 0)).toBe(true);
    // The real models: the trainer's rows always, PyTorch's when a python3 with torch is there.
    const trainerRows = j.models.contenders.filter((c: { workers: number | null }) => c.workers !== null).map((c: { name: string }) => c.name);
    expect(trainerRows).toEqual(['cnn-two-conv', 'gru-rows', 'lstm-rows'].flatMap((m) => [`trainer, ${m}, 1 worker`, `trainer, ${m}, 2 workers`]));
    expect(j.models.contenders.filter((c: { workers: number | null }) => c.workers === null)).toHaveLength(j.models.python ? 3 : 0);
    for (const c of j.models.contenders) expect(c.median.epochSeconds, c.name).toBeGreaterThan(0);
    expect(j.models.cnnStepMs.median.current).toBeGreaterThan(0);
    expect(j.models.targets.length).toBe(3 + (j.models.python ? 3 : 0));
    for (const t of j.models.targets as { target: string; value: number; ok: boolean }[]) {
      expect(t.ok, t.target).toBe(t.value >= Number(/>= ([\d.]+)x/.exec(t.target)![1]));
    }
  }, QUICK_BENCH_MS);
});

describe('npm run bench:kernels', () => {
  it('runs both paths in their own processes and they compute the same gradient', () => {
    const r = runCli('bench/kernels.js', ['--rows', '8', '--steps', '20', '--reps', '1']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('| path | step ms (after 300) |');
    const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    for (const path of ['engine', 'direct']) {
      for (const k of ['medianMs', 'first150Ms', 'cpuMsPerStep']) expect(j.summary[path][k], `${path} ${k}`).toBeGreaterThan(0);
      // The engine's ops are the oracle of the direct kernels: same math, same kernels.
      expect(j.summary[path].maxDiff).toBeLessThan(1e-6);
    }
    const bad = runCli('bench/kernels.js', ['--rows', '0']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe('error: --rows: expected an integer from 1, got "0"');
  });
});

describe('npm run bench:loops', () => {
  it('times the gather, the update and the reduce against the loops they replaced, after checking each pair gives the same bits', () => {
    const r = runCli('bench/hot-loops.js', ['--reps', '1']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(j.rows.map((x: { name: string }) => x.name)).toEqual(['gather, 64 rows', 'gather, 512 rows', 'update, 25445 parameters (half the MLP), 2 slabs', 'reduce, 25445 parameters, 4 slabs']);
    for (const x of j.rows) for (const k of ['nowMs', 'beforeMs']) expect(x[k], `${x.name} ${k}`).toBeGreaterThan(0);
  });
});

describe('npm run bench:threads', () => {
  it('prints each epoch\'s wall time and the CPU of the coordinator, each step-loop thread and the rest', () => {
    const r = runCli('bench/thread-cpu.js', ['--workers', '2', '--threads', '2', '--epochs', '2', '--limit', '6400']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { rows: { wallS: number; mainCpuS: number; loopCpuS: number[]; restCpuS: number }[] };
    expect(j.rows).toHaveLength(2);
    for (const row of j.rows) expect(row.loopCpuS).toHaveLength(2);
    // The step loops did the work of the run: over both epochs, each used more CPU than the coordinator.
    const loop = (k: number) => j.rows.reduce((sum, row) => sum + row.loopCpuS[k], 0);
    const main = j.rows.reduce((sum, row) => sum + row.mainCpuS, 0);
    expect(Math.min(loop(0), loop(1))).toBeGreaterThan(main);
  });
});

describe('npm run scale', () => {
  it('tiny strong-mode run: every cell has its fields, exactness below 1e-5, and the chart is written', () => {
    const out = tmpDir();
    const r = runCli('bench/scale.js', ['--workers', '1,2,3', '--batch-sizes', '48', '--steps', '6', '--warmup', '2', '--limit', '2400', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(readFileSync(join(out, 'scale.json'), 'utf8'));
    expect(j.mode).toBe('strong');
    expect(j.cells.map((c: { workers: number }) => c.workers)).toEqual([1, 2, 3]);
    for (const c of j.cells) {
      for (const k of ['stepMsMedian', 'stepMsP90', 'samplesPerSec', 'speedup', 'efficiency']) expect(c[k], k).toBeGreaterThan(0);
      for (const k of ['computeMs', 'updateMs', 'waitMs']) expect(Number.isFinite(c.phases[k]), k).toBe(true);
      // The gradient and the update take time, measured inside the loops; the rest cannot be negative.
      expect(c.phases.computeMs).toBeGreaterThan(0);
      expect(c.phases.updateMs).toBeGreaterThan(0);
      expect(c.phases.waitMs).toBeGreaterThanOrEqual(0);
      expect(c.exactness).toBeLessThan(1e-5);
      expect(c.deterministic.samplesPerSec).toBeGreaterThan(0);
      expect(c.oversubscribed).toBe(c.workers > j.cores);
    }
    expect(j.projection.points.map((p: { workers: number }) => p.workers)).toEqual([8, 16, 32, 64]);
    const svg = readFileSync(join(out, 'speedup.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('ideal (linear)');
    expect(existsSync(join(out, 'scale.md'))).toBe(true);
  });

  it('weak mode grows the global batch with the workers; bad flags exit 2', () => {
    const out = tmpDir();
    const r = runCli('bench/scale.js', ['--mode', 'weak', '--workers', '1,2', '--batch-sizes', '32', '--steps', '4', '--warmup', '1', '--skip-deterministic', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(readFileSync(join(out, 'scale.json'), 'utf8'));
    expect(j.cells.map((c: { globalBatch: number }) => c.globalBatch)).toEqual([32, 64]);
    const bad = runCli('bench/scale.js', ['--workers', '1,zero']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe('error: --workers: expected a comma-separated list of positive integers, got "1,zero"');
  });
});

describe('the benchmark commands', () => {
  it('answer --help with their usage and exit 0, and refuse unknown flags with exit 2', () => {
    for (const [script, usage] of [['bench/run.js', 'npm run bench'], ['bench/kernels.js', 'npm run bench:kernels'], ['bench/scale.js', 'npm run scale'], ['bench/soak.js', 'npm run soak']]) {
      const help = runCli(script, ['--help']);
      expect(help.status, script).toBe(0);
      expect(help.stdout.startsWith(`Usage: ${usage}`), script).toBe(true);
      const bad = runCli(script, ['--frobnicate']);
      expect(bad.status, script).toBe(2);
      expect(bad.stderr.trim().split('\n'), script).toHaveLength(1);
    }
  });
});
