// The whole training job, top to bottom: resolve config, load data into shared memory,
// build layout / weights / Adam / pool, then the loop with its phases (shard, compute,
// reduce, Adam, log), then the evaluation report. `npm run train` runs main().
import { pathToFileURL } from 'node:url';
import { ConfigError, HelpRequested, HELP, resolveConfig } from './config.js';
import type { Config } from './config.js';
import { builtinMnistDir, DataError, loadDataset } from './idx.js';
import type { Dataset } from './idx.js';
import { parseMask } from './labels.js';
import type { MaskRule } from './labels.js';
import { createLogger } from './log.js';
import type { Logger } from './log.js';
import { adamStep, newAdamState } from './optimizer.js';
import { createPool } from './pool.js';
import type { WorkerInit } from './protocol.js';
import { formatReport } from './report.js';
import type { SplitReport } from './report.js';
import { evaluate, initWeights, loadShared, shuffleForEpoch } from './setup.js';
import { CONTROL } from './shared-memory.js';
import { planShards } from './shards.js';
import { dispatchStep, reduceStep } from './step.js';
import { round, StepStats } from './step-stats.js';

export interface RunSummary {
  weights: Float32Array;
  steps: number;
  epochs: ReturnType<StepStats['summary']>[];
  /** Every step after the first `warmupSteps` (for scaling scripts). */
  overall: ReturnType<StepStats['summary']>;
  eval: { train: SplitReport; test: SplitReport } | null;
}

/** For programs that drive a run (benchmarks, tests); the CLI uses the defaults. */
export interface RunOptions {
  /** Stop after this many steps (epochs continue as configured up to it). */
  maxSteps?: number;
  /** Leave the first steps (JIT warm-up) out of `overall`. */
  warmupSteps?: number;
  /** Run the final evaluation (default true). */
  evaluate?: boolean;
}

/** Runs the job described by `config`, logging to `log`. Throws on any failure. */
export async function runTraining(config: Config, log: Logger, dataset?: Dataset, options: RunOptions = {}): Promise<RunSummary> {
  const runStart = performance.now();
  // 1. Data: read and check the IDX files, then copy them once into shared memory.
  const data = dataset ?? loadDataset(config.data ?? builtinMnistDir(), config.model.numClasses);
  checkAgainstData(config, data);
  const mask = parseMask(config.mask) as MaskRule;
  const numTrain = Math.min(config.limit ?? Infinity, data.train.count);
  const { workers: numWorkers, batchSize } = config;
  const { model, layout, buffers, views } = loadShared(data, numTrain, mask, config);

  // 2. Weights, optimizer state and the pool.
  initWeights(layout, config.seed, views.weights);
  const adam = newAdamState(layout.numParams);
  const wp = await createPool({ buffers, model, layout, backend: config.backend } satisfies WorkerInit, numWorkers);
  try {
    log.info({
      event: 'run_start', config, backend: config.backend, numParams: layout.numParams, numWorkers,
      numTrain, numTest: data.test.count, inputSize: model.inputSize, layout: layout.params.map(({ name, shape }) => ({ name, shape })),
      startupMs: round(performance.now() - runStart),
    }, 'run_start');

    // 3. The loop. Steps are pipelined by one phase: step s+1's tasks are sent before
    //    Adam of step s, so workers gather their rows while Adam runs; they wait for
    //    the new weights version before touching the weights. The math is unchanged.
    const plan = planShards(batchSize, numWorkers, config.deterministic ? config.microShardRows : 0);
    const stepsPerEpoch = Math.floor(numTrain / batchSize); // the remainder is dropped, as in the seed
    const totalSteps = Math.min(stepsPerEpoch * config.epochs, options.maxSteps ?? Infinity);
    const warmupSteps = Math.min(options.warmupSteps ?? 0, totalSteps - 1);
    const overall = new StepStats(totalSteps - warmupSteps);
    const perm = new Int32Array(numTrain);
    const grad = new Float32Array(layout.numParams);
    const epochs: RunSummary['epochs'] = [];
    /** 3a. Shard: step's sample indices into shared memory (shuffling at each epoch start). */
    const loadBatch = (step: number) => {
      const s = step % stepsPerEpoch;
      if (s === 0) shuffleForEpoch(config.seed, Math.floor(step / stepsPerEpoch), perm);
      views.batch.set(perm.subarray(s * batchSize, (s + 1) * batchSize));
    };
    let version = Atomics.load(views.control, CONTROL.weightsVersion);
    loadBatch(0);
    let pending = dispatchStep(wp, plan, 0, version);
    let publishedAt = performance.now();
    let timeToFirstStepMs = 0; // performance.now() counts from process start: what a user waits
    let epochStats = new StepStats(stepsPerEpoch);
    let window = new StepStats(config.progressEvery);
    for (let step = 0; step < totalSteps; step++) {
      const epoch = Math.floor(step / stepsPerEpoch);
      // 3b. Compute: wait for every shard's gradient sum in its slab.
      const results = await pending;
      const tResults = performance.now();
      // 3c. Reduce: check the results, sum the slabs, divide once by the global normaliser.
      const g = reduceStep(results, views, wp, step, version, batchSize, config.normalize, grad);
      const tReduced = performance.now();
      // Send the next step's tasks now: the batch region is free, the weights are not yet.
      if (step + 1 < totalSteps) {
        loadBatch(step + 1);
        pending = dispatchStep(wp, plan, step + 1, version + 1);
      }
      const tDispatched = performance.now();
      // 3d. Adam on the one shared copy of the weights, then publish the new version.
      adamStep(config, adam, grad, views.weights);
      version++;
      Atomics.store(views.control, CONTROL.weightsVersion, version);
      Atomics.notify(views.control, CONTROL.weightsVersion);
      const tPublished = performance.now();
      // 3e. Account and log; a log object is built only when a line is due.
      const waitMs = tResults - publishedAt - g.computeMs;
      for (const st of step >= warmupSteps ? [epochStats, window, overall] : [epochStats, window]) {
        st.add(tPublished - publishedAt, g.loss, g.computeMs, waitMs, tReduced - tResults, tDispatched - tReduced, tPublished - tDispatched);
      }
      publishedAt = tPublished;
      if (step === 0) timeToFirstStepMs = tPublished;
      if ((step + 1) % config.progressEvery === 0) {
        log.info({ event: 'progress', epoch, step: step + 1, ...window.summary(batchSize) }, 'progress');
        window = new StepStats(config.progressEvery);
      }
      if ((step + 1) % stepsPerEpoch === 0 || step + 1 === totalSteps) {
        const e = epochStats.summary(batchSize);
        epochs.push(e);
        log.info({ event: 'epoch_end', epoch, steps: epochStats.steps, ...e, ...(epoch === 0 ? { timeToFirstStepMs: round(timeToFirstStepMs) } : {}) }, 'epoch_end');
        epochStats = new StepStats(stepsPerEpoch);
      }
    }

    // 4. Evaluate on the training rows (as the seed did) and on the test set.
    const evalStart = performance.now();
    const report = options.evaluate === false ? null : await evaluate(wp, views, numTrain, numWorkers, mask, model.numClasses);
    if (report) log.info({ event: 'eval', mask: config.mask, ms: round(performance.now() - evalStart), ...report }, 'eval');
    log.info({
      event: 'run_end', steps: totalSteps, seconds: round((performance.now() - runStart) / 1000), finalLoss: epochs.at(-1)?.loss ?? null,
      // maxRSS covers the whole process, every worker thread included.
      peakRssMB: round(process.resourceUsage().maxRSS / 1024),
    }, 'run_end');
    return { weights: views.weights.slice(), steps: totalSteps, epochs, overall: overall.summary(batchSize), eval: report };
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
    const r = summary.eval!;
    process.stderr.write(`\n${formatReport('training', r.train)}\n\n${formatReport('test', r.test)}\n`);
    return 0;
  } catch (e) {
    log.error({ event: 'run_failed', err: e }, 'run_failed');
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
