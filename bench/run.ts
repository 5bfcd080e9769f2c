// `npm run bench`: baseline A (what a TypeScript user writes today: a Layers model and
// fitDataset on wasm, main thread) and this trainer with 1, 2 and 4 workers, in one
// run on one machine, alternated (A, 1, 2, 4, A, 1, 2, 4, ...) so drift on a noisy
// machine hits every contender alike; medians over the repetitions. Each run is its own
// process, started exactly as a user would start it, so peak RSS is per run.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { PROJECT_ROOT } from '../src/files/paths.js';
import { makeDirs } from '../src/files/outputs.js';
import { builtinMnistDir } from '../src/data/idx.js';
import { benchFlags, checkOut, fail, intFlag } from './cli.js';

const flags = benchFlags({ quick: 'boolean', reps: 'string', out: 'string', baseline: 'string', python: 'string' }, `Usage: npm run bench -- [--quick] [--reps N] [--out FILE] [--baseline DIR] [--python PATH]
Baseline A (fitDataset, main thread) and this trainer with 1, 2 and 4 workers at batch
128 and 1 and 2 at batch 512, each run a fresh process training two epochs, alternated,
medians over --reps repetitions (3; 1 with --quick, which runs 60 steps per epoch);
the task-module rows; real models (the two-conv CNN, GRU and LSTM examples) for one
epoch with 1 and 2 workers beside PyTorch's CPU training of the same networks with 2
threads (when a python3 with torch is found: --python, else /usr/bin/python3, else
python3); the two-conv CNN's step at 64 rows in one thread (npm run profile) beside the
same step of another build (--baseline DIR: a built checkout with the profile command,
e.g. git worktree add DIR e5a4e99 && npm ci --prefix DIR) and that build's seed rows (1,
2 and 4 workers, batch 128) alternated with this one's; the quick start's \`npm run
train -- --workers 1|2\` wall time; and the machine's ceiling (npm run bench:cores).
Prints the table and the targets; writes the JSON to --out (bench/results/latest.json).
`);
const quick = flags.quick === true;
const reps = intFlag('reps', flags.reps, quick ? 1 : 3, 1);
const out = flags.out ?? join(PROJECT_ROOT, 'bench', 'results', 'latest.json');
checkOut(out, 'file');
const baselineRoot = flags.baseline ?? null;
if (baselineRoot && !existsSync(join(baselineRoot, 'dist', 'src', 'cli', 'main.js'))) fail(`--baseline ${baselineRoot}: no dist/src/cli/main.js there (a built checkout: npm ci in it)`);

/** A python3 that imports torch (PyTorch, a contender only: never a dependency), or null. */
const python = ((): string | null => {
  const candidates = flags.python ? [flags.python] : ['/usr/bin/python3', 'python3'];
  for (const p of candidates) {
    if (spawnSync(p, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0) return p;
  }
  if (flags.python) fail(`--python ${flags.python}: cannot import torch with it`);
  return null;
})();

interface Measure {
  /** The first epoch of a fresh process (JIT warm-up included): the headline figure. */
  epochSeconds: number;
  /** The second epoch of the same process: warm, as every later epoch of a longer run. */
  secondEpochSeconds: number;
  samples: number;
  samplesPerSec: number;
  stepMsMedian: number;
  stepMsP90: number;
  timeToFirstStepMs: number;
  peakRssMB: number;
  phases?: { computeMs: number; updateMs: number; waitMs: number };
}

interface Contender {
  name: string;
  batchSize: number;
  workers: number | null; // null: a baseline
  /** Set when --threads differs from the default (min(workers, cores)). */
  threads?: number;
  /** seed: the seed MLP on the fast path (the main table); general: --engine general; cnn: the CNN example; model: the real-model rows; baseline: the seed on the --baseline build. */
  group?: 'general' | 'cnn' | 'model' | 'baseline';
  /** The real-model rows: which example network. */
  model?: string;
  run: () => Measure;
}

/** Runs dist/`script` of the checkout at `root` (this one, or the --baseline build). */
const nodeIn = (root: string, script: string, args: string[]) => {
  const r = spawnSync(process.execPath, [join(root, 'dist', script), ...args], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`${root}: ${script} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim().split('\n').at(-1)}`);
  return r.stdout;
};
const node = (script: string, args: string[]) => nodeIn(PROJECT_ROOT, script, args);

/** Rows per measured epoch: the full MNIST epoch, or a slice of it in --quick mode. */
const rowsFor = (batchSize: number) => (quick ? 60 * batchSize : 60000);

function baseline(batchSize: number, extra: string[] = [], steps = Math.floor(rowsFor(batchSize) / batchSize)): Measure {
  const line = node('bench/baseline-fitdataset.js', ['--batch-size', String(batchSize), '--steps', String(steps), '--epochs', '2', ...extra]);
  const m = JSON.parse(line.trim().split('\n').at(-1)!) as Measure & { epochSecondsAll: number[] };
  return { ...m, secondEpochSeconds: m.epochSecondsAll[1], samples: steps * batchSize };
}

function trainer(workers: number, batchSize: number, extra: string[] = [], rows = rowsFor(batchSize), root = PROJECT_ROOT): Measure {
  const out = nodeIn(root, 'src/cli/train.js', [
    '--workers', String(workers), '--batch-size', String(batchSize), '--epochs', '2', '--limit', String(rows),
    '--progress-every', '1000000', ...extra,
  ]);
  const events = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, number>);
  const [epoch, second] = events.filter((e) => (e.event as unknown) === 'epoch_end');
  const end = events.find((e) => (e.event as unknown) === 'run_end')!;
  return {
    epochSeconds: epoch.seconds,
    secondEpochSeconds: second.seconds,
    samples: epoch.steps * batchSize,
    samplesPerSec: epoch.samplesPerSec,
    stepMsMedian: epoch.stepMsMedian,
    stepMsP90: epoch.stepMsP90,
    timeToFirstStepMs: epoch.timeToFirstStepMs,
    peakRssMB: end.peakRssMB,
    phases: { computeMs: epoch.computeMs, updateMs: epoch.updateMs, waitMs: epoch.waitMs },
  };
}

const cores = availableParallelism();
const contenders: Contender[] = [];
for (const batchSize of [128, 512]) {
  if (batchSize === 128) contenders.push({ name: 'baseline A (fitDataset, main thread)', batchSize, workers: null, run: () => baseline(batchSize) });
  for (const w of batchSize === 128 ? [1, 2, 4] : [1, 2]) {
    const on = w > cores ? ` (on ${cores} threads)` : '';
    contenders.push({ name: `trainer, ${w} worker${w > 1 ? 's' : ''}${on}`, batchSize, workers: w, run: () => trainer(w, batchSize) });
  }
}
// 4 workers on 4 threads: what --workers 4 did on 2 cores before the shards of the
// workers beyond the cores ran on the cores' threads.
if (cores < 4) contenders.push({ name: `trainer, 4 workers, --threads 4 (oversubscribes ${cores} cores)`, batchSize: 128, workers: 4, threads: 4, run: () => trainer(4, 128, ['--threads', '4']) });
// The seed on the --baseline build, alternated with the rest: the before of every seed row above.
if (baselineRoot) {
  for (const w of [1, 2, 4]) {
    contenders.push({ name: `--baseline build, ${w} worker${w > 1 ? 's' : ''}`, batchSize: 128, workers: w, group: 'baseline', run: () => trainer(w, 128, [], rowsFor(128), baselineRoot) });
  }
}

// Task modules (the general path): the seed MLP through TF.js autodiff against the fast
// path above, and the CNN example with 1 and 2 workers against baseline C, fitDataset
// on the cpu backend (wasm cannot train a Conv2D in stock TF.js). The CNN rows are
// compared by step time: baseline C takes ~0.9 s a step, so it runs few steps.
const CNN = join(PROJECT_ROOT, 'examples', 'cnn-masked.mjs');
const CNN_STEPS = quick ? 30 : 100;
const C_STEPS = quick ? 3 : 8;
for (const w of [1, 2]) {
  contenders.push({ name: `trainer --engine general, ${w} worker${w > 1 ? 's' : ''}`, batchSize: 128, workers: w, group: 'general', run: () => trainer(w, 128, ['--engine', 'general']) });
}
contenders.push({ name: 'baseline C (CNN, fitDataset, cpu backend)', batchSize: 128, workers: null, group: 'cnn', run: () => baseline(128, ['--task', CNN, '--backend', 'cpu'], C_STEPS) });
for (const w of [1, 2]) {
  contenders.push({ name: `trainer, CNN example, ${w} worker${w > 1 ? 's' : ''}`, batchSize: 128, workers: w, group: 'cnn', run: () => trainer(w, 128, ['--task', CNN], CNN_STEPS * 128) });
}

// Real models (the examples docs/performance.md compares with PyTorch): one epoch of a fresh
// process with 1 and 2 workers, and PyTorch's CPU training of the same network (same
// loss, Adam, batch 128) with 2 threads, when torch is there.
const MODELS = ['cnn-two-conv', 'gru-rows', 'lstm-rows'];
const modelRows = quick ? 10 * 128 : 60000;
function modelEpoch(model: string, workers: number): Measure {
  const out = node('src/cli/train.js', [
    '--task', join(PROJECT_ROOT, 'examples', `${model}.mjs`), '--workers', String(workers), '--epochs', '1', '--limit', String(modelRows),
    '--progress-every', '1000000',
  ]);
  const events = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, number>);
  const epoch = events.find((e) => (e.event as unknown) === 'epoch_end')!;
  const end = events.find((e) => (e.event as unknown) === 'run_end')!;
  return {
    epochSeconds: epoch.seconds, secondEpochSeconds: Number.NaN, samples: epoch.steps * 128, samplesPerSec: epoch.samplesPerSec,
    stepMsMedian: epoch.stepMsMedian, stepMsP90: epoch.stepMsP90, timeToFirstStepMs: epoch.timeToFirstStepMs, peakRssMB: end.peakRssMB,
    phases: { computeMs: epoch.computeMs, updateMs: epoch.updateMs, waitMs: epoch.waitMs },
  };
}
function pytorchEpoch(model: string): Measure {
  const r = spawnSync(python!, [join(PROJECT_ROOT, 'bench', 'pytorch_contender.py'), '--model', model, '--threads', '2', '--data', builtinMnistDir(),
    '--steps', String(Math.floor(modelRows / 128))], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`pytorch_contender.py --model ${model} exited ${r.status}: ${r.stderr.trim().split('\n').at(-1)}`);
  const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { seconds: number; steps: number; stepMsMedian: number; samplesPerSec: number };
  return {
    epochSeconds: j.seconds, secondEpochSeconds: Number.NaN, samples: j.steps * 128, samplesPerSec: Math.round(j.samplesPerSec),
    stepMsMedian: j.stepMsMedian, stepMsP90: Number.NaN, timeToFirstStepMs: Number.NaN, peakRssMB: Number.NaN,
  };
}
for (const model of MODELS) {
  if (python) contenders.push({ name: `PyTorch ${model}, 2 threads`, batchSize: 128, workers: null, group: 'model', model, run: () => pytorchEpoch(model) });
  for (const w of [1, 2]) {
    contenders.push({ name: `trainer, ${model}, ${w} worker${w > 1 ? 's' : ''}`, batchSize: 128, workers: w, group: 'model', model, run: () => modelEpoch(model, w) });
  }
}

/** One shard's step of the two-conv CNN at 64 rows in one thread (npm run profile) of the build at `root`: median ms. */
function cnnStepMs(root: string): number {
  const r = spawnSync(process.execPath, [join(root, 'dist', 'src', 'cli', 'main.js'), 'profile', '--task', join(PROJECT_ROOT, 'examples', 'cnn-two-conv.mjs'),
    '--rows', '64', '--steps', quick ? '5' : '100', '--warmup', quick ? '2' : '30', '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${root}: profile exited ${r.status}: ${r.stderr.trim().split('\n').at(-1)}`);
  return (JSON.parse(r.stdout) as { stepMs: { median: number } }).stepMs.median;
}

/**
 * The quick start's job as a user runs it: `npm run train -- --workers N` (3 epochs of
 * the seed, then the evaluation), wall time of the whole process, start-up included.
 */
function quickStart(workers: number): number {
  const t0 = performance.now();
  node('src/cli/main.js', ['train', '--workers', String(workers), ...(quick ? ['--limit', String(60 * 128)] : [])]);
  return (performance.now() - t0) / 1000;
}

// The ceiling of any speed-up here: one shard's gradient alone and on every core at once.
const ceiling = JSON.parse(node('bench/cores.js', ['--rows', '64', '--reps', quick ? '1' : '3']).trim().split('\n').at(-1)!) as { procs: number; aloneMs: number; atOnceMs: number; ceiling: number };

// Alternate: every repetition runs every contender once, in the same order.
const samples = new Map<Contender, Measure[]>(contenders.map((c) => [c, []]));
const quickStartSeconds: Record<number, number[]> = { 1: [], 2: [] };
const cnnStep: { current: number[]; baseline: number[] } = { current: [], baseline: [] };
for (let r = 0; r < reps; r++) {
  cnnStep.current.push(cnnStepMs(PROJECT_ROOT));
  if (baselineRoot) cnnStep.baseline.push(cnnStepMs(baselineRoot));
  process.stderr.write(`rep ${r + 1}/${reps} two-conv CNN step, 64 rows, one thread: ${cnnStep.current.at(-1)!.toFixed(3)} ms${baselineRoot ? `, baseline ${cnnStep.baseline.at(-1)!.toFixed(3)} ms` : ''}\n`);
  for (const c of contenders) {
    const m = c.run();
    samples.get(c)!.push(m);
    process.stderr.write(`rep ${r + 1}/${reps} ${c.name} batch ${c.batchSize}: ${m.epochSeconds.toFixed(3)} s, 2nd epoch ${m.secondEpochSeconds.toFixed(3)} s\n`);
  }
  for (const w of [1, 2]) {
    quickStartSeconds[w].push(quickStart(w));
    process.stderr.write(`rep ${r + 1}/${reps} npm run train -- --workers ${w}: ${quickStartSeconds[w].at(-1)!.toFixed(3)} s\n`);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r3 = (x: number) => Math.round(x * 1000) / 1000;
function medianOf(ms: Measure[]): Measure {
  const pick = (f: (m: Measure) => number) => r3(median(ms.map(f)));
  const m: Measure = {
    epochSeconds: pick((m) => m.epochSeconds), secondEpochSeconds: pick((m) => m.secondEpochSeconds || 0), samples: ms[0].samples, samplesPerSec: Math.round(median(ms.map((m) => m.samplesPerSec))),
    stepMsMedian: pick((m) => m.stepMsMedian), stepMsP90: pick((m) => m.stepMsP90),
    timeToFirstStepMs: pick((m) => m.timeToFirstStepMs), peakRssMB: pick((m) => m.peakRssMB),
  };
  if (ms[0].phases) {
    m.phases = {
      computeMs: pick((x) => x.phases!.computeMs), updateMs: pick((x) => x.phases!.updateMs), waitMs: pick((x) => x.phases!.waitMs),
    };
  }
  return m;
}

const allRows = contenders.map((c) => ({ name: c.name, batchSize: c.batchSize, workers: c.workers, threads: c.threads, group: c.group, runs: samples.get(c)!, median: medianOf(samples.get(c)!) }));
const rows = allRows.filter((r) => !r.group);
const baselineRows = allRows.filter((r) => r.group === 'baseline');
const taskRows = allRows.filter((r) => r.group === 'general' || r.group === 'cnn');
const modelTable = allRows.filter((r) => r.group === 'model').map((r) => ({ ...r, model: contenders.find((c) => c.name === r.name)!.model! }));
const base = rows.find((r) => r.workers === null)!.median;
const find = (w: number, b: number) => rows.find((r) => r.workers === w && r.batchSize === b && r.threads === undefined)!.median;
const inGroup = (g: 'general' | 'cnn' | 'model', w: number | null) => taskRows.find((r) => r.group === g && r.workers === w)!.median;
const speedup = (w: number, b: number) => r3(base.epochSeconds / (find(w, b).epochSeconds * (base.samples / find(w, b).samples)));
const perSample = (m: Measure) => m.epochSeconds / m.samples;
const two = find(2, 128);
const twoStepMs = (two.epochSeconds * 1000) / (two.samples / 128);
const overheadShare = r3((twoStepMs - two.phases!.computeMs) / twoStepMs);

const vsOne = (w: number, b: number) => r3(perSample(find(1, b)) / perSample(find(w, b)));
const warmVsOne = (w: number, b: number) => r3((find(1, b).secondEpochSeconds / find(1, b).samples) / (find(w, b).secondEpochSeconds / find(w, b).samples));
const firstOverWarm = r3(two.epochSeconds / two.secondEpochSeconds);
const fourVsTwo = r3(perSample(two) / perSample(find(4, 128)));
const fourThreads = rows.find((r) => r.workers === 4 && r.threads === 4)?.median ?? find(4, 128);
const cnnVsOne = r3(perSample(inGroup('cnn', 1)) / perSample(inGroup('cnn', 2)));
const targets = [
  { target: '2 vs 1 worker, seed MLP, batch 128, first epoch: >= 1.4x', value: vsOne(2, 128), ok: vsOne(2, 128) >= 1.4 },
  { target: '2 vs 1 worker, seed MLP, batch 128, warm (2nd) epoch: >= 1.6x', value: warmVsOne(2, 128), ok: warmVsOne(2, 128) >= 1.6 },
  { target: '2 vs 1 worker, seed MLP, batch 512: >= 1.85x', value: vsOne(2, 512), ok: vsOne(2, 512) >= 1.85 },
  { target: 'first epoch / warm epoch, 2 workers, batch 128: <= 1.15x', value: firstOverWarm, ok: firstOverWarm <= 1.15 },
  { target: 'update phase, 2 workers, batch 128: <= 0.12 ms', value: two.phases!.updateMs, ok: two.phases!.updateMs <= 0.12 },
  { target: `4 workers on ${cores} cores vs 2 workers, batch 128: >= 0.95x`, value: fourVsTwo, ok: fourVsTwo >= 0.95 },
  { target: '2 workers, batch 128, vs baseline A, first epoch: >= 6x', value: speedup(2, 128), ok: speedup(2, 128) >= 6 },
  { target: 'CNN example (general path), 2 vs 1 worker, batch 128: >= 1.7x', value: cnnVsOne, ok: cnnVsOne >= 1.7 },
  { target: 'peak RSS, 2 workers: <= 400 MB', value: two.peakRssMB, ok: two.peakRssMB <= 400 },
  // Per extra thread: the 4-thread row where 4 workers share fewer cores (they run on the cores' threads otherwise).
  { target: 'RSS per extra thread (4 vs 2 threads) / 2: <= 60 MB', value: r3((fourThreads.peakRssMB - two.peakRssMB) / 2), ok: (fourThreads.peakRssMB - two.peakRssMB) / 2 <= 60 },
  { target: 'time to first step, 2 workers: <= 2000 ms', value: two.timeToFirstStepMs, ok: two.timeToFirstStepMs <= 2000 },
];

// Step-time ratios (median step ms of the first epoch; the general path's against the
// fast path at the same worker count).
const taskTargets = [
  ...[1, 2].map((w) => {
    const v = r3(inGroup('general', w).stepMsMedian / find(w, 128).stepMsMedian);
    const limit = w === 2 ? 1.2 : 1.5;
    return { target: `general path vs fast path, seed MLP, ${w} worker${w > 1 ? 's' : ''}, batch 128: step time <= ${limit}x`, value: v, ok: v <= limit };
  }),
  ...[1, 2].map((w) => ({ target: `CNN example, ${w} worker${w > 1 ? 's' : ''} vs baseline C (fitDataset, cpu): speed-up per step`, value: r3(inGroup('cnn', null).stepMsMedian / inGroup('cnn', w).stepMsMedian), ok: true })),
];

// The real models: epoch time ratios (PyTorch / trainer: above 1 the trainer is faster).
const modelOf = (model: string, w: number | null) => modelTable.find((r) => r.model === model && r.workers === w)?.median;
const cnnStepMedian = { current: r3(median(cnnStep.current)), baseline: baselineRoot ? r3(median(cnnStep.baseline)) : null };
const modelTargets = [
  ...(cnnStepMedian.baseline ? [{ target: 'two-conv CNN, one thread, step at 64 rows vs the --baseline build: >= 3x faster', value: r3(cnnStepMedian.baseline / cnnStepMedian.current) }] : []),
  ...MODELS.flatMap((m) => {
    const torch = modelOf(m, null);
    const goal = m === 'cnn-two-conv' ? 1.0 : 0.5;
    return torch ? [{ target: `${m} epoch, 2 workers, vs PyTorch with 2 threads: >= ${goal}x as fast`, value: r3(torch.epochSeconds / modelOf(m, 2)!.epochSeconds) }] : [];
  }),
  ...MODELS.map((m) => ({ target: `${m}, 2 vs 1 worker (epoch): >= 1.7x`, value: r3(modelOf(m, 1)!.epochSeconds / modelOf(m, 2)!.epochSeconds) })),
].map((t) => ({ ...t, ok: t.value >= Number(/>= ([\d.]+)x/.exec(t.target)![1]) }));

const machine = { nproc: cores, cpu: cpus()[0]?.model ?? 'unknown', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
const commit = (() => { try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim(); } catch { return null; } })();
const quickStartMedian = { 1: r3(median(quickStartSeconds[1])), 2: r3(median(quickStartSeconds[2])) };
const result = { quick, reps, machine, commit, date: new Date().toISOString(), ceiling, baselineBuild: baselineRoot ? { root: baselineRoot, contenders: baselineRows } : null, quickStartSeconds: { runs: quickStartSeconds, median: quickStartMedian }, contenders: rows, targets, tasks: { contenders: taskRows, targets: taskTargets }, models: { python, contenders: modelTable, cnnStepMs: { runs: cnnStep, median: cnnStepMedian }, targets: modelTargets }, breakdown2Workers128: { stepMs: r3(twoStepMs), ...two.phases, nonComputeShare: overheadShare } };
makeDirs(dirname(out));
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');

const fmt = (x: number, d = 3) => x.toFixed(d);
const lines = [
  `Machine: ${machine.nproc} cores (${machine.cpu}), ${machine.memGiB} GiB, Node ${machine.node}. ${quick ? 'QUICK mode: ' + 60 + ' steps per run, ' : 'Full MNIST epoch per run, '}medians over ${reps} alternated repetition(s).`,
  '',
  '| contender | batch | samples | epoch s | samples/s | step ms median | step ms p90 | first step ms | peak RSS MB | vs baseline A | 2nd epoch s | 2nd epoch vs A |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => {
    const m = r.median;
    const ratio = r.workers === null ? '1.00x' : `${fmt(perSample(base) / perSample(m), 2)}x`;
    const warm = r.workers === null ? '1.00x' : `${fmt(base.secondEpochSeconds / base.samples / (m.secondEpochSeconds / m.samples), 2)}x`;
    return `| ${r.name} | ${r.batchSize} | ${m.samples} | ${fmt(m.epochSeconds)} | ${m.samplesPerSec} | ${fmt(m.stepMsMedian)} | ${fmt(m.stepMsP90)} | ${Math.round(m.timeToFirstStepMs)} | ${Math.round(m.peakRssMB)} | ${ratio} | ${fmt(m.secondEpochSeconds)} | ${warm} |`;
  }),
  '',
  'Epoch s, samples/s, step ms and the targets: the first epoch of a fresh process, JIT warm-up included. 2nd epoch: the same process\'s second epoch (warm).',
  ...(baselineRows.length ? [
    '',
    `The same seed rows on the --baseline build (${baselineRoot}), alternated with the rows above: epoch s, 2nd epoch s, compute / update / wait ms.`,
    '',
    '| build | workers | epoch s | 2nd epoch s | first step ms | compute ms | update ms | wait ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...[1, 2, 4].flatMap((w) => [{ build: 'this', w, m: find(w, 128) }, { build: '--baseline', w, m: baselineRows.find((r) => r.workers === w)!.median }]).map(({ build, w, m }) =>
      `| ${build} | ${w} | ${fmt(m.epochSeconds)} | ${fmt(m.secondEpochSeconds)} | ${Math.round(m.timeToFirstStepMs)} | ${fmt(m.phases!.computeMs)} | ${fmt(m.phases!.updateMs)} | ${fmt(m.phases!.waitMs)} |`),
  ] : []),
  '',
  `Step breakdown, 2 workers, batch 128 (mean ms per step, timed by the step loops): step ${fmt(twoStepMs)} = compute ${fmt(two.phases!.computeMs)} (slowest shard's gradient with its weights in hand) + update ${fmt(two.phases!.updateMs)} (slowest slice's reduce and Adam) + wait ${fmt(two.phases!.waitMs)} (gather, barriers, wake-ups) + the rest; non-compute share ${fmt(overheadShare * 100, 1)}%.`,
  '',
  `\`npm run train -- --workers N\` (the quick start: ${quick ? `${60 * 128} rows` : '3 epochs'} and the evaluation, whole process): 1 worker ${fmt(quickStartMedian[1])} s, 2 workers ${fmt(quickStartMedian[2])} s (medians).`,
  '',
  `The machine's ceiling (\`npm run bench:cores\`): one 64-row shard's gradient takes ${fmt(ceiling.aloneMs)} ms alone and ${fmt(ceiling.atOnceMs)} ms with ${ceiling.procs} at once: ${ceiling.procs} workers can give at most ${fmt(ceiling.ceiling, 2)}x.`,
  '',
  '| target | measured | met |',
  '| --- | ---: | :---: |',
  ...targets.map((t) => `| ${t.target} | ${t.value} | ${t.ok ? 'yes' : 'NO'} |`),
  '',
  `Task modules: the seed MLP on the general path (full epochs), the CNN example (${CNN_STEPS} steps an epoch) and baseline C (${C_STEPS} steps an epoch); medians of the first epoch.`,
  '',
  '| contender | batch | samples | epoch s | samples/s | step ms median | step ms p90 | first step ms | peak RSS MB | 2nd epoch s |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...taskRows.map(({ name, batchSize, median: m }) => `| ${name} | ${batchSize} | ${m.samples} | ${fmt(m.epochSeconds)} | ${m.samplesPerSec} | ${fmt(m.stepMsMedian)} | ${fmt(m.stepMsP90)} | ${Math.round(m.timeToFirstStepMs)} | ${Math.round(m.peakRssMB)} | ${fmt(m.secondEpochSeconds)} |`),
  '',
  '| task-module measure | value | met |',
  '| --- | ---: | :---: |',
  ...taskTargets.map((t) => `| ${t.target} | ${t.value}${t.target.includes('<=') ? '' : 'x'} | ${t.target.includes('<=') ? (t.ok ? 'yes' : 'NO') : '-'} |`),
  '',
  `Real models, one epoch of a fresh process (${modelRows} rows, batch 128), medians${python ? `; PyTorch ${python}` : '; PyTorch not measured (no python3 with torch: apt-get install python3-torch)'}:`,
  '',
  '| contender | epoch s | samples/s | step ms median | compute ms (slowest shard) | peak RSS MB |',
  '| --- | ---: | ---: | ---: | ---: | ---: |',
  ...modelTable.map(({ name, median: m }) => `| ${name} | ${fmt(m.epochSeconds)} | ${m.samplesPerSec} | ${fmt(m.stepMsMedian)} | ${m.phases ? fmt(m.phases.computeMs) : '-'} | ${Number.isFinite(m.peakRssMB) ? Math.round(m.peakRssMB) : '-'} |`),
  '',
  `The two-conv CNN's step at 64 rows in one thread (npm run profile), median: ${fmt(cnnStepMedian.current)} ms${cnnStepMedian.baseline ? ` against ${fmt(cnnStepMedian.baseline)} ms for --baseline ${baselineRoot}` : ' (no --baseline build to compare with)'}.`,
  '',
  '| real-model target | measured | met |',
  '| --- | ---: | :---: |',
  ...modelTargets.map((t) => `| ${t.target} | ${t.value}x | ${t.ok ? 'yes' : 'NO'} |`),
  '',
  `JSON: ${out}`,
];
process.stdout.write(lines.join('\n') + '\n');
