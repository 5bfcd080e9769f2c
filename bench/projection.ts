// A simple performance model fitted to measured scaling cells, to project throughput on
// machines with more cores. It is a projection, not a measurement, and says so.
//   step(N) = a + b * rowsPerWorker          (a worker's compute: fixed + per-row cost)
//           + u / N                          (the update phase: each worker reduces and
//                                             updates 1/N of the parameters)
//           + w0 + w1 * N                    (gather, barriers and wake-ups)
// Only cells with no more workers than cores are used, so oversubscription does not
// leak into the per-task costs.

export interface Cell {
  workers: number;
  batch: number;
  globalBatch: number;
  rowsPerWorker: number;
  oversubscribed: boolean;
  stepMsMedian: number;
  stepMsP90: number;
  samplesPerSec: number;
  speedup: number;
  efficiency: number;
  phases: { computeMs: number; updateMs: number; waitMs: number };
  exactness: number;
  deterministic: { samplesPerSec: number; stepMsMedian: number; cost: number } | null;
}

export interface Projection {
  a: number;
  b: number;
  w0: number;
  w1: number;
  /** The whole update phase's ms (one worker's slice is u / N). */
  u: number;
  /** samples/s of one worker for each batch size, measured, to express speedups. */
  oneWorker: Record<number, number>;
  description: string;
}

/** Least-squares line y = c0 + c1 x; with one distinct x, a flat line through the mean. */
function line(xs: number[], ys: number[]): [number, number] {
  const n = xs.length;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i] - mx) ** 2;
    sxy += (xs[i] - mx) * (ys[i] - my);
  }
  const c1 = sxx === 0 ? 0 : sxy / sxx;
  return [my - c1 * mx, c1];
}

export function fitProjection(cells: Cell[], cores: number, mode: 'strong' | 'weak'): Projection {
  const fit = cells.filter((c) => !c.oversubscribed);
  const use = fit.length > 0 ? fit : cells;
  const [a, b] = line(use.map((c) => c.rowsPerWorker), use.map((c) => c.phases.computeMs));
  const [w0, w1] = line(use.map((c) => c.workers), use.map((c) => Math.max(0, c.phases.waitMs)));
  const u = use.reduce((s, c) => s + c.phases.updateMs * c.workers, 0) / use.length;
  const oneWorker: Record<number, number> = {};
  for (const c of cells) if (c.workers === 1) oneWorker[c.batch] = c.samplesPerSec;
  const f = (x: number) => x.toFixed(4);
  return {
    a: Math.max(0, a), b: Math.max(0, b), w0: Math.max(0, w0), w1: Math.max(0, w1), u, oneWorker,
    description: `step(N) = compute ${f(Math.max(0, a))} + ${f(Math.max(0, b))} ms/row x rows per worker` +
      ` + update ${f(u)} / N + wait ${f(Math.max(0, w0))} + ${f(Math.max(0, w1))} N ms,` +
      ` fitted on ${use.length} cell(s) with N <= ${cores} cores (${mode} mode), one worker per core assumed.`,
  };
}

export function project(p: Projection, batch: number, workers: number, mode: 'strong' | 'weak') {
  const globalBatch = mode === 'strong' ? batch : batch * workers;
  const rowsPerWorker = globalBatch / workers;
  const stepMs = p.a + p.b * rowsPerWorker + p.u / workers + p.w0 + p.w1 * workers;
  const samplesPerSec = (globalBatch / stepMs) * 1000;
  return { workers, globalBatch, stepMs, samplesPerSec, speedup: samplesPerSec / (p.oneWorker[batch] ?? NaN) };
}
