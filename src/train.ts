// The whole training job, top to bottom: resolve config, load data into shared memory,
// build layout / weights / Adam / pool, then the loop with its phases (shard, compute,
// reduce, Adam, log, checkpoint), then the evaluation report. `npm run train` runs main().
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { CheckpointError, describeLayoutDifference, listCheckpoints, readLatestCheckpoint, removeTemps, writeCheckpoint } from './checkpoint.js';
import type { LoadedCheckpoint } from './checkpoint.js';
import { ConfigError, HelpRequested, HELP, resolveConfig } from './config.js';
import type { Config } from './config.js';
import { builtinMnistDir, DataError, loadDataset } from './idx.js';
import type { Dataset } from './idx.js';
import { parseMask } from './labels.js';
import type { MaskRule } from './labels.js';
import { hold } from './faults.js';
import { createLogger } from './log.js';
import type { Logger } from './log.js';
import { OutputError, probeDir, probeFile, WriteError } from './outputs.js';
import { adamStep, newAdamState } from './optimizer.js';
import { closePool, createPool } from './pool.js';
import type { WorkerInit } from './protocol.js';
import { formatReport } from './report.js';
import type { SplitReport } from './report.js';
import { epochShuffleState, evaluate, initWeights, loadShared, shuffleForEpoch } from './setup.js';
import { batchSlot, CONTROL, paramLayout } from './shared-memory.js';
import { planShards } from './shards.js';
import { reduceStep, ShardFailedError, StepAbandoned, StepLoops } from './step.js';
import type { FaultPolicy } from './step.js';
import { round, StepStats } from './step-stats.js';
import { ProgressLine } from './progress-line.js';

export interface RunSummary {
  weights: Float32Array;
  steps: number;
  epochs: ReturnType<StepStats['summary']>[];
  /** Every step after the first `warmupSteps` (for scaling scripts). */
  overall: ReturnType<StepStats['summary']>;
  eval: { train: SplitReport; test: SplitReport } | null;
  /** Set when a signal stopped the run early: 'SIGINT' or 'SIGTERM'. */
  stoppedBy: NodeJS.Signals | null;
}

/** For programs that drive a run (benchmarks, tests); the CLI uses the defaults. */
export interface RunOptions {
  /** Stop after this many steps (epochs continue as configured up to it). */
  maxSteps?: number;
  /** Leave the first steps (JIT warm-up) out of `overall`. */
  warmupSteps?: number;
  /** Run the final evaluation (default true). */
  evaluate?: boolean;
  /** Continue from this checkpoint (already validated against the config by `checkResume`). */
  resumeFrom?: LoadedCheckpoint;
  /** Polled after every step: a signal name stops the run cleanly after a checkpoint. */
  stopRequested?: () => NodeJS.Signals | null;
  /** Polled after every step: a failed log write (src/log.ts) stops the run with it. */
  writeFailure?: () => Error | null;
  /** Draw a live progress line on stderr when it is a terminal (the CLI does). */
  progressLine?: boolean;
}

/** Runs the job described by `config`, logging to `log`. Throws on any failure. */
export async function runTraining(config: Config, log: Logger, dataset?: Dataset, options: RunOptions = {}): Promise<RunSummary> {
  const runStart = performance.now();
  // 1. Data: read and check the IDX files (decoded straight into shared memory).
  const data = dataset ?? loadDataset(config.data ?? builtinMnistDir(), config.model.numClasses);
  checkAgainstData(config, data);
  const mask = parseMask(config.mask) as MaskRule;
  const numTrain = Math.min(config.limit ?? Infinity, data.train.count);
  const { workers: numWorkers, batchSize } = config;
  const { model, layout, buffers, views } = loadShared(data, numTrain, mask, config);

  // 2. Weights, optimizer state and position: fresh, or exactly as a checkpoint left them.
  const adam = newAdamState(layout.numParams);
  const resume = options.resumeFrom;
  if (resume) {
    views.weights.set(resume.weights);
    adam.t = resume.adam.t;
    adam.m.set(resume.adam.m);
    adam.v.set(resume.adam.v);
    Atomics.store(views.control, CONTROL.weightsVersion, resume.weightsVersion);
  } else {
    initWeights(layout, config.seed, views.weights);
  }
  const wp = await createPool({ buffers, model, layout, backend: config.backend } satisfies WorkerInit, numWorkers,
    (err) => log.error({ event: 'pool_error', err }, 'pool_error'));
  const checkpointDir = config.checkpointDir ?? config.resume;
  try {
    log.info({
      event: 'run_start', config, backend: config.backend, numParams: layout.numParams, numWorkers,
      numTrain, numTest: data.test.count, inputSize: model.inputSize, layout: layout.params.map(({ name, shape }) => ({ name, shape })),
      resumedFrom: resume ? { checkpoint: resume.checkpoint, step: resume.step } : null,
      startupMs: round(performance.now() - runStart),
    }, 'run_start');
    // Worker-side events reach the log through the coordinator, tagged with workerIndex:
    // workers never open log streams of their own.
    wp.threads.forEach((t, workerIndex) => {
      log.child({ workerIndex }).info({ event: 'worker_ready', threadId: t.threadId, backend: t.backend, setupMs: round(t.setupMs) }, 'worker_ready');
    });
    // A crash (or a full disk) can leave `.tmp-*` in the checkpoint directory: never
    // valid, and on a full disk the space the next checkpoint needs.
    const removed = checkpointDir ? removeTemps(checkpointDir) : [];
    if (removed.length > 0) log.warn({ event: 'checkpoint_temps_removed', dir: checkpointDir, removed }, 'checkpoint_temps_removed');

    // 3. The loop. Steps are pipelined by one phase: step s+1's batch is out before
    //    Adam of step s, so workers gather their rows while Adam runs; they wait for
    //    the new weights version before touching the weights. The math is unchanged.
    const plan = planShards(batchSize, numWorkers, config.deterministic ? config.microShardRows : 0);
    const stepsPerEpoch = Math.floor(numTrain / batchSize); // the remainder is dropped, as in the seed
    const totalSteps = Math.min(stepsPerEpoch * config.epochs, options.maxSteps ?? Infinity);
    const firstStep = resume?.step ?? 0;
    const warmupSteps = firstStep + Math.min(options.warmupSteps ?? 0, Math.max(0, totalSteps - firstStep - 1));
    const overall = new StepStats(Math.max(1, totalSteps - warmupSteps));
    const perm = new Int32Array(numTrain);
    let permEpoch = -1;
    const grad = new Float32Array(layout.numParams);
    const epochs: RunSummary['epochs'] = [];
    const policy: FaultPolicy = {
      stepTimeoutMs: config.stepTimeout,
      maxRetries: config.maxRetries,
      onFault: (f) => log.warn({ event: 'worker_fault', ...f }, 'worker_fault'),
    };
    // One long-running task per shard runs the steps (src/step.ts, StepLoops): each
    // step's batch and weights go out, and its results come back, through shared memory.
    const loops = new StepLoops(wp, views, plan, totalSteps, policy);
    /**
     * 3a. Shard: the step's sample indices into its slot of shared memory (the epoch's
     * order is seeded), then published to the workers.
     */
    const publishBatch = (step: number) => {
      const epoch = Math.floor(step / stepsPerEpoch);
      if (epoch !== permEpoch) shuffleForEpoch(config.seed, (permEpoch = epoch), perm);
      const s = step % stepsPerEpoch;
      batchSlot(views, step).set(perm.subarray(s * batchSize, (s + 1) * batchSize));
      loops.publishBatch(step);
    };
    let version = Atomics.load(views.control, CONTROL.weightsVersion);
    /** Everything needed to continue exactly after `completed` steps (weights as published). */
    const saveCheckpoint = (completed: number, reason: string) => {
      if (!checkpointDir) return;
      hold('checkpointing');
      const t = performance.now();
      const epoch = Math.floor(completed / stepsPerEpoch);
      const name = writeCheckpoint(checkpointDir, {
        step: completed, epoch, stepInEpoch: completed % stepsPerEpoch, weightsVersion: version,
        rngState: epochShuffleState(config.seed, epoch), adam, weights: views.weights, layout, model, config,
      }, config.keep);
      log.info({ event: 'checkpoint', reason, step: completed, dir: checkpointDir, checkpoint: name, ms: round(performance.now() - t) }, 'checkpoint');
    };
    let stoppedBy: NodeJS.Signals | null = null;
    const progressLine = options.progressLine ? ProgressLine.forStderr(firstStep, totalSteps, stepsPerEpoch, config.epochs, batchSize) : null;
    let completed = firstStep;
    // A signal that came while loading or starting the pool: no step is started.
    stoppedBy = options.stopRequested?.() ?? null;
    if (firstStep < totalSteps && !stoppedBy) {
      // Batches go out a step ahead (two slots), so a shard gathers the next step's rows
      // as soon as it has finished this one, while the coordinator reduces and updates.
      for (let s = firstStep; s < Math.min(firstStep + 2, totalSteps); s++) publishBatch(s);
      loops.start(firstStep, version);
      let publishedAt = performance.now();
      let timeToFirstStepMs = 0; // performance.now() counts from process start: what a user waits
      let epochStats = new StepStats(stepsPerEpoch);
      let window = new StepStats(config.progressEvery);
      for (let step = firstStep; step < totalSteps; step++) {
        const epoch = Math.floor(step / stepsPerEpoch);
        // 3b. Compute: wait for every shard's gradient sum in its slab.
        let results;
        try {
          results = await loops.results(step, version, options.stopRequested);
        } catch (e) {
          // A signal came and the step in flight did not finish within STEP_GRACE_MS (a
          // hung thread): the weights are still those of `completed` steps; keep them.
          if (e instanceof StepAbandoned) {
            stoppedBy = e.signal;
            saveCheckpoint(completed, e.signal);
            break;
          }
          // A shard failed for good: keep what was learned up to the last completed step.
          // A non-finite gradient is not saved over the last good checkpoint.
          if (e instanceof ShardFailedError) saveCheckpoint(completed, 'shard_failed');
          throw e;
        }
        const tResults = performance.now();
        // 3c. Reduce: check the results, sum the slabs, divide once by the global normaliser.
        const g = reduceStep(results, views, wp, step, version, batchSize, config.normalize, grad);
        const tReduced = performance.now();
        // Publish the batch after next into this step's slot: every shard has read it.
        if (step + 2 < totalSteps) publishBatch(step + 2);
        const tDispatched = performance.now();
        // 3d. Adam on the one shared copy of the weights, then publish the new version.
        adamStep(config, adam, grad, views.weights);
        version++;
        Atomics.store(views.control, CONTROL.weightsVersion, version);
        Atomics.notify(views.control, CONTROL.weightsVersion);
        const tPublished = performance.now();
        completed = step + 1;
        // 3e. Account and log; a log object is built only when a line is due.
        const waitMs = tResults - publishedAt - g.computeMs;
        const stepMs = tPublished - publishedAt;
        const reduceMs = tReduced - tResults;
        const dispatchMs = tDispatched - tReduced;
        const adamMs = tPublished - tDispatched;
        epochStats.add(stepMs, g.loss, g.computeMs, waitMs, reduceMs, dispatchMs, adamMs);
        window.add(stepMs, g.loss, g.computeMs, waitMs, reduceMs, dispatchMs, adamMs);
        if (step >= warmupSteps) overall.add(stepMs, g.loss, g.computeMs, waitMs, reduceMs, dispatchMs, adamMs);
        publishedAt = tPublished;
        if (step === firstStep) timeToFirstStepMs = tPublished;
        progressLine?.update(completed, g.loss);
        if (completed % config.progressEvery === 0) {
          log.info({ event: 'progress', epoch, step: completed, ...window.summary(batchSize) }, 'progress');
          window = new StepStats(config.progressEvery);
        }
        const epochDone = completed % stepsPerEpoch === 0 || completed === totalSteps;
        if (epochDone) {
          const e = epochStats.summary(batchSize);
          epochs.push(e);
          const first = epoch === Math.floor(firstStep / stepsPerEpoch) ? { timeToFirstStepMs: round(timeToFirstStepMs) } : {};
          // Memory and tensor counts, for soak runs: both must stay flat epoch after epoch.
          const memory = { rssMB: round(process.memoryUsage().rss / 2 ** 20), workerTensors: results.map((r) => r.numTensors) };
          log.info({ event: 'epoch_end', epoch, steps: epochStats.steps, ...e, ...memory, ...first }, 'epoch_end');
          epochStats = new StepStats(stepsPerEpoch);
        }
        // 3f. Checkpoint: every K steps, at each epoch end and at the end (after the
        //     publish, so the files hold exactly the weights of `completed` steps).
        const writeFailure = options.writeFailure?.();
        if (writeFailure) {
          // The log cannot be written (its disk is full, stdout is closed): stop, keeping
          // what was learned if the checkpoint directory still takes it.
          try {
            saveCheckpoint(completed, 'log_write_failed');
          } catch {
            // reported below: the log's failure is the cause
          }
          throw writeFailure;
        }
        stoppedBy = options.stopRequested?.() ?? null;
        if (stoppedBy) {
          saveCheckpoint(completed, stoppedBy);
          break;
        }
        if (epochDone || (config.checkpointEvery && completed % config.checkpointEvery === 0)) {
          saveCheckpoint(completed, epochDone ? (completed === totalSteps ? 'end' : 'epoch_end') : 'every');
        }
      }
    }
    // The loops have run out of steps (or finish the one in flight when stopped by a signal).
    // After a signal every loop is asked to end; one that does not within 200 ms (a hung
    // thread) is terminated, so the process exits within the signal grace.
    await loops.stop(stoppedBy ? Math.min(200, config.stepTimeout) : config.stepTimeout);
    progressLine?.done();
    if (stoppedBy) {
      log.warn({ event: 'run_stopped', signal: stoppedBy, step: completed }, 'run_stopped');
      return { weights: views.weights.slice(), steps: completed, epochs, overall: overall.summary(batchSize), eval: null, stoppedBy };
    }

    // 4. Evaluate on the training rows (as the seed did) and on the test set.
    hold('evaluating');
    const evalStart = performance.now();
    const report = options.evaluate === false ? null : await evaluate(wp, views, numTrain, numWorkers, mask, model.numClasses);
    if (report) log.info({ event: 'eval', mask: config.mask, ms: round(performance.now() - evalStart), ...report }, 'eval');
    log.info({
      event: 'run_end', steps: completed, seconds: round((performance.now() - runStart) / 1000), finalLoss: epochs.at(-1)?.loss ?? null,
      // maxRSS covers the whole process, every worker thread included.
      peakRssMB: round(process.resourceUsage().maxRSS / 1024),
    }, 'run_end');
    return { weights: views.weights.slice(), steps: completed, epochs, overall: overall.summary(batchSize), eval: report, stoppedBy: null };
  } finally {
    await closePool(wp);
  }
}

/** What can only be checked once the data is known; before any file is written. */
function checkAgainstData(config: Config, data: Dataset): void {
  const numTrain = Math.min(config.limit ?? Infinity, data.train.count);
  if (numTrain < config.batchSize) {
    throw new ConfigError(`--batch-size: ${config.batchSize} is larger than the ${numTrain} training rows`);
  }
  const mask = parseMask(config.mask) as MaskRule;
  const outside = mask.kind === 'classes' ? mask.classes.find((c) => c >= config.model.numClasses) : undefined;
  if (outside !== undefined) throw new ConfigError(`--mask: class ${outside} is outside the model's classes 0..${config.model.numClasses - 1}`);
}

/** The native backend is the user's own install, never ours (../shared/DESIGN.md, decision 1). */
function checkBackend(config: Config): void {
  if (config.backend !== 'tensorflow') return;
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
  } catch {
    throw new ConfigError('--backend tensorflow: @tensorflow/tfjs-node is not installed; install it yourself (`npm install @tensorflow/tfjs-node`, ' +
      'whose install downloads libtensorflow) and know that it is known to fail when loaded in more than one worker thread (tensorflow/tfjs#8388); --backend wasm needs nothing');
  }
}

/**
 * A checkpoint can only continue a run of the same model, batch and data order: a
 * different shape is refused with the difference named; so are a different batch
 * size, row limit or seed, which would move the position in the epoch.
 */
function checkResume(config: Config, data: Dataset, ckpt: LoadedCheckpoint): void {
  const model = { inputSize: data.train.inputSize, hidden: config.model.hidden, numClasses: config.model.numClasses };
  const diff = describeLayoutDifference(ckpt.layout, paramLayout(model));
  if (diff) throw new ConfigError(`--resume ${config.resume}: the model differs from ${ckpt.checkpoint}: ${diff}`);
  for (const key of ['batchSize', 'limit', 'seed'] as const) {
    if (ckpt.config[key] !== config[key]) {
      throw new ConfigError(`--resume ${config.resume}: ${key} is ${JSON.stringify(config[key])}, ${ckpt.checkpoint} was trained with ${JSON.stringify(ckpt.config[key])}`);
    }
  }
}

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * After the first signal the run has this long to stop on its own (finish the step in
 * flight, checkpoint, shut the pool down); then the process exits regardless, whatever
 * it is doing (loading, evaluating, failing, waiting on a hung thread). A checkpoint
 * write is synchronous, so this never cuts one in half (and a cut one would only leave
 * a `.tmp-*` that the next run removes).
 */
const SIGNAL_GRACE_MS = 1500;

/**
 * One turn of the event loop that includes its poll phase, where a signal that arrived
 * during synchronous work is delivered (setImmediate could run before it).
 */
const seeSignals = () => new Promise<void>((resolve) => setTimeout(resolve, 10));

/** The CLI: exit 0 done, 2 bad input (one line on stderr, nothing written), 1 failure, 130/143 signal. */
export async function main(argv: string[]): Promise<number> {
  // SIGINT / SIGTERM: finish the step in flight, checkpoint, exit 130 / 143. A second
  // signal exits at once (the log is written synchronously, so no line is lost).
  // Installed first, so that a signal in any phase takes effect.
  let stop: NodeJS.Signals | null = null;
  let log: Logger | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop) process.exit(SIGNAL_EXIT[signal]);
    stop = signal;
    setTimeout(() => {
      log?.warn({ event: 'run_stopped', signal, forced: true, graceMs: SIGNAL_GRACE_MS }, 'run_stopped');
      process.exit(SIGNAL_EXIT[signal]);
    }, SIGNAL_GRACE_MS).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await runCli(argv, () => stop, (l) => { log = l; });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function runCli(argv: string[], stopRequested: () => NodeJS.Signals | null, setLog: (log: Logger) => void): Promise<number> {
  let config: Config;
  let data: Dataset;
  let resumeFrom: LoadedCheckpoint | undefined;
  const invalid: { checkpoint: string; problem: string }[] = [];
  try {
    config = resolveConfig(argv);
    // Every output is created, written and fsynced once, then removed again, before
    // anything is loaded: a path that cannot be written costs no time and leaves nothing.
    if (config.logFile) probeFile('--log-file', config.logFile, 'append');
    if (config.checkpointDir) probeDir('--checkpoint-dir', config.checkpointDir);
    if (config.resume) {
      // The checkpoint's own config is the base; a --config file and flags still win.
      resumeFrom = readLatestCheckpoint(config.resume, (checkpoint, problem) => {
        invalid.push({ checkpoint, problem });
        process.stderr.write(`warning: skipping invalid checkpoint: ${problem}\n`);
      });
      // Where the earlier run read from and wrote to is not part of the experiment: a
      // checkpoint copied elsewhere goes on writing next to itself, not to the old path.
      const { checkpointDir: _dir, resume: _resume, logFile: _log, ...experiment } = resumeFrom.config;
      config = resolveConfig(argv, { name: `${config.resume}/${resumeFrom.checkpoint}`, config: experiment as Record<string, unknown> });
      if (!config.checkpointDir) probeDir('--resume', config.resume!);
    } else if (config.checkpointDir && listCheckpoints(config.checkpointDir).length > 0) {
      throw new ConfigError(`--checkpoint-dir ${config.checkpointDir}: already holds checkpoints; continue with --resume ${config.checkpointDir} or choose an empty directory`);
    }
    hold('loading');
    data = loadDataset(config.data ?? builtinMnistDir(), config.model.numClasses);
    checkAgainstData(config, data);
    checkBackend(config);
    if (resumeFrom) checkResume(config, data, resumeFrom);
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(HELP);
      return 0;
    }
    if (e instanceof ConfigError || e instanceof DataError || e instanceof CheckpointError || e instanceof OutputError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  // Loading is synchronous: a signal that came meanwhile is handled now, before any
  // thread is started.
  await seeSignals();
  const early = stopRequested();
  if (early) return SIGNAL_EXIT[early];
  let logger;
  try {
    logger = createLogger(config.logLevel, config.logFile, config.logFormat);
  } catch (e) {
    if (!(e instanceof WriteError)) throw e;
    process.stderr.write(`error: --log-file ${e.message}\n`);
    return 1;
  }
  const { log } = logger;
  setLog(log);
  for (const i of invalid) log.warn({ event: 'checkpoint_invalid', ...i }, 'checkpoint_invalid');
  try {
    const summary = await runTraining(config, log, data, { resumeFrom, stopRequested, writeFailure: logger.failure, progressLine: true });
    const failure = logger.failure();
    if (failure) throw failure;
    // A signal during the evaluation or the pool's shutdown still ends the run as a signal.
    const signal = summary.stoppedBy ?? stopRequested();
    if (signal) {
      if (!summary.stoppedBy) log.warn({ event: 'run_stopped', signal, step: summary.steps }, 'run_stopped');
      return SIGNAL_EXIT[signal];
    }
    const r = summary.eval!;
    process.stderr.write(`\n${formatReport('training', r.train)}\n\n${formatReport('test', r.test)}\n`);
    return 0;
  } catch (e) {
    hold('failing');
    await seeSignals(); // a signal during the failure still ends the run as a signal
    const code = (e as { code?: string }).code;
    const path = e instanceof WriteError ? { path: e.path, errno: e.errno } : {};
    log.error({ event: 'run_failed', code, ...path, err: e }, 'run_failed');
    process.stderr.write(`error: ${(e as Error).message}\n`);
    const signal = stopRequested();
    return signal ? SIGNAL_EXIT[signal] : 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // process.exit, not exitCode: a worker thread that did not end when the pool was shut
  // down must not keep the process alive (every log write is already synchronous).
  process.exit(await main(process.argv.slice(2)));
}
