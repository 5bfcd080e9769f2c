// `npm run scale`: how throughput and exactness change with the worker count and the
// batch size. Every cell is a real run of the trainer (in this process, a fresh pool
// per cell) on MNIST; the first steps (JIT warm-up) are left out of the timings. Also
// measures --deterministic against the normal mode, the first step's gradient against
// one worker's, and projects (labelled as such) to machines with more cores.
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { resolveConfig } from '../src/settings/config.js';
import { builtinMnistDir, loadDataset } from '../src/data/idx.js';
import type { Dataset } from '../src/data/idx.js';
import { closePool, createPool } from '../src/engine/pool.js';
import { prepareRun } from '../src/run/prepare.js';
import { loadShared, workerInit } from '../src/run/start.js';
import { shuffleForEpoch } from '../src/run/schedule.js';
import { planShards } from '../src/engine/shards.js';
import { oneStepGradient } from '../src/engine/step-loops.js';
import { maxRelDiff } from './exactness.js';
import { runPlan } from '../src/run/coordinator.js';
import { PROJECT_ROOT } from '../src/files/paths.js';
import { fitProjection, project } from './projection.js';
import type { Cell } from './projection.js';
import { scaleChartSvg } from './scale-chart.js';
import { makeDirs } from '../src/files/outputs.js';
import { benchFlags, checkOut, fail, intFlag } from './cli.js';

const o = benchFlags({
  workers: 'string', 'batch-sizes': 'string', steps: 'string', warmup: 'string', mode: 'string', out: 'string', 'skip-deterministic': 'boolean', limit: 'string',
}, `Usage: npm run scale -- [--workers 1,2,4,8] [--batch-sizes 128,512] [--steps 200]
       [--warmup 60] [--mode strong|weak] [--out DIR] [--skip-deterministic] [--limit ROWS]
strong: the global batch is fixed and split across workers; weak: each worker keeps
the batch size, so the global batch grows with workers. Writes scale.json, scale.md
and speedup.svg to --out (default bench/results/scale).
`);
const list = (flag: string, text: string) => {
  const xs = text.split(',').map((t) => Number(t.trim()));
  if (xs.length === 0 || xs.some((x) => !Number.isInteger(x) || x < 1)) fail(`--${flag}: expected a comma-separated list of positive integers, got "${text}"`);
  return [...new Set(xs)].sort((a, b) => a - b);
};
const workerCounts = list('workers', o.workers ?? '1,2,4,8');
const batchSizes = list('batch-sizes', o['batch-sizes'] ?? '128,512');
const outDir = o.out ?? join(PROJECT_ROOT, 'bench', 'results', 'scale');
checkOut(outDir, 'dir');
const steps = intFlag('steps', o.steps, 200, 1);
const warmup = intFlag('warmup', o.warmup, 60, 0);
const modeFlag = o.mode ?? 'strong';
const mode = modeFlag === 'strong' || modeFlag === 'weak' ? modeFlag : fail(`--mode: expected strong or weak, got "${modeFlag}"`);
const limit = o.limit === undefined ? null : intFlag('limit', o.limit, 0, 1);
if (!workerCounts.includes(1)) workerCounts.unshift(1); // speedups are against 1 worker

const cores = availableParallelism();
const silent = pino({ level: 'silent' });
const data: Dataset = loadDataset(builtinMnistDir(), 10);
const globalBatch = (workers: number, batch: number) => (mode === 'strong' ? batch : batch * workers);

/** Steps of one cell, in this process; warm-up steps excluded from the timings. */
async function timeCell(workers: number, batch: number, deterministic: boolean) {
  const gb = globalBatch(workers, batch);
  const rows = Math.min(limit ?? Infinity, data.train.count);
  if (gb > rows) fail(`global batch ${gb} (workers ${workers} x batch ${batch}) exceeds the ${rows} training rows`);
  const epochs = Math.ceil((steps + warmup) / Math.floor(rows / gb));
  const config = resolveConfig([
    '--workers', String(workers), '--batch-size', String(gb), '--epochs', String(epochs), '--limit', String(rows),
    ...(deterministic ? ['--deterministic'] : []),
  ]);
  const { plan } = await prepareRun(() => config, () => data, undefined, { maxSteps: steps + warmup, warmupSteps: warmup, evaluate: false });
  const r = await runPlan(plan, silent, data);
  return r.overall;
}

/** Max relative difference of the first step's reduced gradient against 1 worker's. */
const references = new Map<string, Float32Array>();
async function firstStepGradient(workers: number, gb: number, deterministic: boolean): Promise<Float32Array> {
  const config = resolveConfig(['--workers', String(workers), '--batch-size', String(gb)]);
  const micro = deterministic ? config.microShardRows : 0;
  const { plan } = await prepareRun(() => ({ ...config, deterministic }), () => data);
  const shared = loadShared(data, plan);
  plan.model.init(shared.views.weights);
  const perm = new Int32Array(data.train.count);
  shuffleForEpoch(config.seed, 0, perm);
  shared.views.batch.set(perm.subarray(0, gb));
  const wp = await createPool(workerInit(shared.buffers, plan), workers);
  try {
    const grad = new Float32Array(plan.model.layout.numParams);
    await oneStepGradient(wp, shared.views, planShards(gb, workers, micro), config.normalize, grad);
    return grad;
  } finally {
    await closePool(wp);
  }
}
async function exactness(workers: number, gb: number): Promise<number> {
  const key = String(gb);
  if (!references.has(key)) references.set(key, await firstStepGradient(1, gb, false));
  const ref = references.get(key)!;
  const got = workers === 1 ? ref : await firstStepGradient(workers, gb, false);
  return maxRelDiff(got, ref);
}

const cells: Cell[] = [];
for (const batch of batchSizes) {
  for (const workers of workerCounts) {
    const gb = globalBatch(workers, batch);
    const normal = await timeCell(workers, batch, false);
    const det = o['skip-deterministic'] ? null : await timeCell(workers, batch, true);
    const exact = await exactness(workers, gb);
    const cell: Cell = {
      workers, batch, globalBatch: gb, rowsPerWorker: gb / workers, oversubscribed: workers > cores,
      stepMsMedian: normal.stepMsMedian, stepMsP90: normal.stepMsP90, samplesPerSec: normal.samplesPerSec,
      phases: { computeMs: normal.computeMs, updateMs: normal.updateMs, waitMs: normal.waitMs },
      speedup: 0, efficiency: 0, exactness: exact,
      deterministic: det ? { samplesPerSec: det.samplesPerSec, stepMsMedian: det.stepMsMedian, cost: 1 - det.samplesPerSec / normal.samplesPerSec } : null,
    };
    cells.push(cell);
    process.stderr.write(`workers ${workers}, batch ${gb}: ${cell.samplesPerSec} samples/s${det ? `, deterministic ${det.samplesPerSec}` : ''}, exactness ${exact.toExponential(2)}\n`);
  }
}
for (const c of cells) {
  const one = cells.find((x) => x.batch === c.batch && x.workers === 1)!;
  c.speedup = c.samplesPerSec / one.samplesPerSec;
  c.efficiency = c.speedup / c.workers;
}

const model = fitProjection(cells, cores, mode);
const projected = batchSizes.flatMap((batch) => [8, 16, 32, 64].map((n) => ({ batch, ...project(model, batch, n, mode) })));

const f = (x: number, d = 2) => x.toFixed(d);
const md = [
  `Scaling, ${mode} mode, MNIST 784-64-10, ${steps} timed steps per cell after ${warmup} warm-up steps; ${cores} cores (cells marked * have more workers than cores: their shards run on ${cores} threads).`,
  '',
  '**Measured**',
  '',
  '| workers | global batch | rows/worker | step ms median | p90 | samples/s | speedup | efficiency | compute | update | wait | exactness vs 1 worker | deterministic samples/s | deterministic cost |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...cells.map((c) => `| ${c.workers}${c.oversubscribed ? '*' : ''} | ${c.globalBatch} | ${c.rowsPerWorker} | ${f(c.stepMsMedian, 3)} | ${f(c.stepMsP90, 3)} | ${c.samplesPerSec} | ${f(c.speedup)}x | ${f(c.efficiency * 100, 0)}% | ${f(c.phases.computeMs, 3)} | ${f(c.phases.updateMs, 3)} | ${f(c.phases.waitMs, 3)} | ${c.exactness.toExponential(1)} | ${c.deterministic ? c.deterministic.samplesPerSec : '-'} | ${c.deterministic ? `${f(c.deterministic.cost * 100, 0)}%` : '-'} |`),
  '',
  '**Projected (a model fitted to the measured phases, not a measurement)**: ' + model.description,
  '',
  '| cores = workers | global batch | projected step ms | projected samples/s | projected speedup vs 1 worker |',
  '| ---: | ---: | ---: | ---: | ---: |',
  ...projected.map((p) => `| ${p.workers} | ${p.globalBatch} | *${f(p.stepMs, 3)}* | *${Math.round(p.samplesPerSec)}* | *${f(p.speedup)}x* |`),
];
makeDirs(outDir);
const result = { mode, steps, warmup, cores, date: new Date().toISOString(), cells, projection: { model, points: projected } };
writeFileSync(join(outDir, 'scale.json'), JSON.stringify(result, null, 2) + '\n');
writeFileSync(join(outDir, 'scale.md'), md.join('\n') + '\n');
writeFileSync(join(outDir, 'speedup.svg'), await scaleChartSvg(cells, projected, mode));
process.stdout.write(md.join('\n') + `\n\nWrote ${join(outDir, 'scale.json')}, scale.md and speedup.svg\n`);
