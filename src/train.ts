// The whole training job, top to bottom: resolve config, load data into shared memory,
// build layout / weights / Adam / pool, then the loop with its phases (shard, compute,
// reduce, Adam, log), then the evaluation report. `npm run train` runs main().
import { pathToFileURL } from 'node:url';
import { ConfigError, HelpRequested, HELP, resolveConfig } from './config.js';
import type { Config } from './config.js';
import { builtinMnistDir, DataError, loadDataset } from './idx.js';
import type { Dataset } from './idx.js';
import { fillConditions, parseMask } from './labels.js';
import type { MaskRule } from './labels.js';
import { createLogger } from './log.js';
import type { Logger } from './log.js';
import { adamStep, newAdamState, reduceGradients } from './optimizer.js';
import { createPool } from './pool.js';
import type { WorkerPool } from './pool.js';
import type { GradientResult, WorkerInit } from './protocol.js';
import { TASK } from './protocol.js';
import { evalReport, formatReport } from './report.js';
import type { SplitReport } from './report.js';
import { glorotUniform, Rng } from './rng.js';
import { allocShared, CONTROL, paramLayout, paramView, viewsOf } from './shared-memory.js';
import type { ModelSpec, ParamLayout, SharedViews } from './shared-memory.js';
import { splitShards } from './shards.js';
import { round, StepStats } from './step-stats.js';

/** Glorot-uniform kernels and zero biases, as Keras initialises Dense layers; seeded. */
export function initWeights(layout: ParamLayout, seed: number, out: Float32Array): void {
  const rng = new Rng(seed);
  for (const p of layout.params) {
    if (p.shape.length === 2) glorotUniform(rng, p.shape[0], p.shape[1], paramView(out, p));
    else paramView(out, p).fill(0);
  }
}

export interface RunSummary {
  weights: Float32Array;
  steps: number;
  epochs: ReturnType<StepStats['summary']>[];
  eval: { train: SplitReport; test: SplitReport };
}

/** Copies the dataset once into shared memory and allocates weights and slabs. */
export function loadShared(data: Dataset, numTrain: number, mask: MaskRule, config: Pick<Config, 'workers' | 'batchSize' | 'model'>) {
  const model: ModelSpec = { inputSize: data.train.inputSize, hidden: config.model.hidden, numClasses: config.model.numClasses };
  const layout = paramLayout(model);
  const buffers = allocShared({
    numTrain, numTest: data.test.count, inputSize: model.inputSize, numParams: layout.numParams, numShards: config.workers, batchSize: config.batchSize,
  });
  const views = viewsOf(buffers, layout.numParams);
  views.trainImages.set(data.train.images.subarray(0, numTrain * model.inputSize));
  views.trainLabels.set(data.train.labels.subarray(0, numTrain));
  views.testImages.set(data.test.images);
  views.testLabels.set(data.test.labels);
  fillConditions(views.trainLabels, mask, views.trainCond);
  return { model, layout, buffers, views };
}

/**
 * Steps 3b-3c of the loop: every shard computes its gradient SUM of the batch in
 * `views.batch` into its slab; then the slabs are reduced into `grad`, divided once by
 * the global normaliser. Returns the step's loss (already normalised) and normaliser.
 */
export async function computeGradient(
  wp: WorkerPool, views: SharedViews, shards: [number, number][], step: number,
  normalize: Config['normalize'], grad: Float32Array,
) {
  const weightsVersion = Atomics.load(views.control, CONTROL.weightsVersion);
  const t0 = performance.now();
  const results = await Promise.all(shards.map(([start, end], shardIndex) =>
    wp.pool.run({ kind: TASK.gradient, step, weightsVersion, shardIndex, start, end }) as Promise<GradientResult>));
  const t1 = performance.now();
  const { lossSum, conditionSum, maxWorkerMs } = checkResults(results, weightsVersion, wp, step);
  const batchSize = shards.at(-1)![1];
  // Divide once by the GLOBAL normaliser (see reduceGradients); guard an all-zero condition.
  const normaliser = normalize === 'batch' ? batchSize : Math.max(conditionSum, 1);
  reduceGradients(views.slabs, normaliser, grad);
  const t2 = performance.now();
  return {
    loss: lossSum / normaliser, normaliser, weightsVersion,
    computeMs: maxWorkerMs, waitMs: t1 - t0 - maxWorkerMs, reduceMs: t2 - t1,
  };
}

/** Runs the job described by `config`, logging to `log`. Throws on any failure. */
export async function runTraining(config: Config, log: Logger, dataset?: Dataset): Promise<RunSummary> {
  const runStart = performance.now();
  // 1. Data: read and check the IDX files, then copy them once into shared memory.
  const data = dataset ?? loadDataset(config.data ?? builtinMnistDir(), config.model.numClasses);
  const mask = parseMask(config.mask) as MaskRule;
  const numTrain = Math.min(config.limit ?? Infinity, data.train.count);
  const numWorkers = config.workers;
  const batchSize = config.batchSize;
  checkAgainstData(config, data);
  const { model, layout, buffers, views } = loadShared(data, numTrain, mask, config);
  // 2. Weights, optimizer state and the pool.
  initWeights(layout, config.seed, views.weights);
  const adam = newAdamState(layout.numParams);
  const init: WorkerInit = { buffers, model, layout, backend: config.backend };
  const wp = await createPool(init, numWorkers);
  try {
    log.info({
      event: 'run_start', config, backend: config.backend, numParams: layout.numParams, numWorkers,
      numTrain, numTest: data.test.count, inputSize: model.inputSize, layout: layout.params.map(({ name, shape }) => ({ name, shape })),
      startupMs: round(performance.now() - runStart),
    }, 'run_start');

    // 3. The loop.
    const shards = splitShards(batchSize, numWorkers);
    const stepsPerEpoch = Math.floor(numTrain / batchSize); // the remainder is dropped, as in the seed
    const perm = Int32Array.from({ length: numTrain }, (_, i) => i);
    const shuffleRng = new Rng((config.seed ^ 0x5bd1e995) >>> 0);
    const grad = new Float32Array(layout.numParams);
    const epochs: RunSummary['epochs'] = [];
    let step = 0;
    // performance.now() counts from process start: this is what a user waits for.
    let timeToFirstStepMs = 0;
    for (let epoch = 0; epoch < config.epochs; epoch++) {
      shuffleRng.shuffle(perm);
      const epochStats = new StepStats(stepsPerEpoch);
      let window = new StepStats(config.progressEvery);
      for (let s = 0; s < stepsPerEpoch; s++, step++) {
        const stepStart = performance.now();
        // 3a. Shard: the batch's sample indices go to shared memory; tasks carry ranges.
        views.batch.set(perm.subarray(s * batchSize, (s + 1) * batchSize));
        // 3b-3c. Compute every shard's gradient sum in its slab; reduce them into `grad`.
        const g = await computeGradient(wp, views, shards, step, config.normalize, grad);
        // 3d. Adam on the one shared copy of the weights, then publish the new version.
        const adamStart = performance.now();
        adamStep(config, adam, grad, views.weights);
        Atomics.store(views.control, CONTROL.weightsVersion, g.weightsVersion + 1);
        const stepEnd = performance.now();
        // 3e. Account and log, building a log object only when a line is due.
        for (const st of [epochStats, window]) st.add(stepEnd - stepStart, g.loss, g.computeMs, g.waitMs, g.reduceMs, stepEnd - adamStart);
        if (step === 0) timeToFirstStepMs = stepEnd;
        if ((step + 1) % config.progressEvery === 0) {
          log.info({ event: 'progress', epoch, step: step + 1, ...window.summary(batchSize) }, 'progress');
          window = new StepStats(config.progressEvery);
        }
      }
      const e = epochStats.summary(batchSize);
      epochs.push(e);
      log.info({ event: 'epoch_end', epoch, steps: stepsPerEpoch, ...e, ...(epoch === 0 ? { timeToFirstStepMs: round(timeToFirstStepMs) } : {}) }, 'epoch_end');
    }

    // 4. Evaluate on the training rows (as the seed did) and on the test set.
    const evalStart = performance.now();
    const report = await evaluate(wp, views, numTrain, data.test.count, numWorkers, mask, model.numClasses);
    log.info({ event: 'eval', mask: config.mask, ms: round(performance.now() - evalStart), ...report }, 'eval');
    log.info({ event: 'run_end', steps: step, seconds: round((performance.now() - runStart) / 1000), finalLoss: epochs.at(-1)?.loss ?? null }, 'run_end');
    return { weights: views.weights.slice(), steps: step, epochs, eval: report };
  } finally {
    await wp.pool.destroy();
  }
}

/** What can only be checked once the data is known; before any file is written. */
function checkAgainstData(config: Config, data: Dataset): void {
  const numTrain = Math.min(config.limit ?? Infinity, data.train.count);
  if (numTrain < config.batchSize) {
    throw new ConfigError(`--batch-size: ${config.batchSize} is larger than the ${numTrain} training rows`);
  }
}

/** The invariants of a step's results: the weights version used and no tensor leaks. */
function checkResults(results: GradientResult[], weightsVersion: number, wp: WorkerPool, step: number) {
  let lossSum = 0;
  let conditionSum = 0;
  let maxWorkerMs = 0;
  results.forEach((r, shardIndex) => {
    if (r.weightsVersion !== weightsVersion) {
      throw new Error(`step ${step}: shard ${shardIndex} used weights version ${r.weightsVersion}, expected ${weightsVersion}`);
    }
    if (r.numTensors !== wp.baselineTensors) {
      throw new Error(`step ${step}: shard ${shardIndex}'s worker holds ${r.numTensors} tensors, expected ${wp.baselineTensors} (a leak)`);
    }
    if (!Number.isFinite(r.lossSum)) throw new Error(`step ${step}: shard ${shardIndex} returned a non-finite loss (${r.lossSum})`);
    lossSum += r.lossSum;
    conditionSum += r.conditionSum;
    const ms = r.timings.prepMs + r.timings.computeMs + r.timings.writeMs;
    if (ms > maxWorkerMs) maxWorkerMs = ms;
  });
  return { lossSum, conditionSum, maxWorkerMs };
}

/** Predictions by the workers (forward only), then the report on the coordinator. */
async function evaluate(wp: WorkerPool, views: SharedViews, numTrain: number, numTest: number, numWorkers: number, mask: MaskRule, numClasses: number) {
  const jobs: Promise<unknown>[] = [];
  for (const [split, rows] of [['train', numTrain], ['test', numTest]] as const) {
    for (const [start, end] of splitShards(rows, numWorkers * 2)) {
      if (end > start) jobs.push(wp.pool.run({ kind: TASK.predict, split, start, end }));
    }
  }
  await Promise.all(jobs);
  const testCond = new Uint8Array(numTest);
  fillConditions(views.testLabels, mask, testCond);
  return {
    train: evalReport(views.trainLabels, views.trainPredictions, views.trainCond, numClasses),
    test: evalReport(views.testLabels, views.testPredictions, testCond, numClasses),
  };
}

/** The CLI: exit 0 on success, 2 on bad input (one line on stderr, nothing written), 1 on failure. */
export async function main(argv: string[]): Promise<number> {
  let config: Config;
  let data: Dataset;
  try {
    config = resolveConfig(argv);
    data = loadDataset(config.data ?? builtinMnistDir(), config.model.numClasses);
    checkAgainstData(config, data);
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(HELP);
      return 0;
    }
    if (e instanceof ConfigError || e instanceof DataError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const log = createLogger(config.logLevel, config.logFile);
  try {
    const summary = await runTraining(config, log, data);
    process.stderr.write(`\n${formatReport('training', summary.eval.train)}\n\n${formatReport('test', summary.eval.test)}\n`);
    return 0;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 2;
    }
    log.error({ event: 'run_failed', err: e }, 'run_failed');
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
