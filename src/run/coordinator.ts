// The training run, top to bottom, as its plan (plan.ts) lays it out: data into shared
// memory, the weights and the optimiser's state (fresh or from a checkpoint), the pool, then the
// coordinator's loop: the step loops run every step themselves (gradient, reduce, update),
// and it publishes batches ahead and reads results behind them (check, log, checkpoint,
// stop), then the evaluation. Accounting and logs (run-log.ts), the checkpoint policy
// (checkpoint-policy.ts), the evaluation (evaluate.ts) and the step loops
// (engine/step-loops.ts) are helpers; this file is the order of things.
import type { Dataset } from '../data/idx.js';
import { closePool, createPool } from '../engine/pool.js';
import type { WorkerPool } from '../engine/pool.js';
import { batchSlot, optStateAt, RING, weightsAt } from '../engine/shared-memory.js';
import { initState } from '../optim/optimizers.js';
import type { SharedViews } from '../engine/shared-memory.js';
import { checkStep, ShardFailedError, StepAbandoned, StepLoops } from '../engine/step-loops.js';
import type { FaultPolicy, StopReason } from '../engine/step-loops.js';
import type { ShardResult } from '../engine/shared-memory.js';
export type { StopReason };
import type { ParamLayout } from '../model/layout.js';
import { ProgressLine } from './progress-line.js';
import type { LoadedCheckpoint } from '../checkpoint/checkpoint.js';
import { CheckpointPolicy } from './checkpoint-policy.js';
import { configJson } from '../settings/config.js';
import { EarlyStopping } from './early-stopping.js';
import { evaluateAndLog, validate } from './evaluate.js';
import type { EvalReports } from './evaluate.js';
import type { Logger } from './log.js';
import type { RunPlan } from './plan.js';
import { RunLog } from './run-log.js';
import type { EpochSummary, StepSummary, StepCallbacks, Validation } from './run-log.js';
import { BatchOrder } from './schedule.js';
import { loadShared, workerInit } from './start.js';
import { round, StepStats } from '../metrics/step-stats.js';

export interface RunSummary {
  weights: Float32Array;
  layout: ParamLayout;
  steps: number;
  epochs: EpochSummary[];
  /** Every step after the first `warmupSteps` (for scaling scripts). */
  overall: StepSummary;
  /** The evaluation's reports of the splits --eval names; null when none ran. */
  eval: EvalReports | null;
  /** Set when the run was stopped early. */
  stoppedBy: StopReason | null;
}

/** How the program that drives a run (the CLI, train(), benchmarks, tests) hears of it and stops it. */
export interface RunOptions extends StepCallbacks {
  /** Polled after every step: a reason stops the run cleanly after a checkpoint. */
  stopRequested?: () => StopReason | null;
  /** Polled after every step: a failed log write (src/run/log.ts) stops the run with it. */
  writeFailure?: () => Error | null;
  /** Draw a live progress line on stderr when it is a terminal (the CLI does). */
  progressLine?: boolean;
}

/** Runs the plan on `data` (prepareRun's), logging to `log`. Throws on any failure. */
export async function runPlan(plan: RunPlan, log: Logger, data: Dataset, options: RunOptions = {}): Promise<RunSummary> {
  const runStart = performance.now();
  const { config, schedule, model, resumeFrom: resume } = plan;
  // 1. The dataset and label rows in shared memory, with the weights and slabs.
  const { buffers, views } = loadShared(data, plan);
  // 2. Weights, the optimiser and position: fresh, or exactly as a checkpoint left them, in the
  //    slot of their step count (the weights after k steps are in slot k % 2).
  const optT = resume ? restore(resume, views, schedule.firstStep) : fresh(plan, views);
  // A stop that came while loading: no thread is started.
  const early = options.stopRequested?.();
  if (early) return stoppedEarly(log, early, weightsAt(views, schedule.firstStep), model.layout, schedule.firstStep);
  // 3. The pool: the plan's step-loop threads (a worker's shard each, up to the cores),
  //    started and pinged.
  const wp = await createPool(workerInit(buffers, plan), plan.threads,
    (err) => log.error({ event: 'pool_error', err }, 'pool_error'));
  try {
    logStart(log, plan, wp, performance.now() - runStart);
    const stateAt = (steps: number) => ({
      weights: weightsAt(views, steps), optimizer: { t: optT + (steps - schedule.firstStep), state: optStateAt(views, steps) },
    });
    // Early stopping decides at an epoch's end; a resumed run goes on from its checkpoint's state.
    const early = plan.earlyStopping ? new EarlyStopping(plan.earlyStopping, resume?.earlyStopping) : null;
    const run: Steps = {
      plan, options, views, wp, optT, early,
      loops: new StepLoops(wp, views, plan.shards, schedule.totalSteps, faultPolicy(plan, log), 'builtin' in model.task.ref ? null : model.task.name, {
        ...plan.update, stateRanges: [...plan.update.stateRanges], apply: true,
      }),
      order: new BatchOrder(config.seed, plan.numTrain, config.batchSize, schedule),
      checkpoints: new CheckpointPolicy(plan, {
        stateAt, layout: model.layout, model: model.spec, topology: model.topology, earlyStopping: () => early?.state() ?? null,
      }, log, resume?.weightsVersion ?? 0),
      runLog: new RunLog(log, schedule, config.batchSize, plan.progressEvery, options,
        options.progressLine ? ProgressLine.forStderr(schedule.firstStep, schedule.totalSteps, schedule.stepsPerEpoch, config.epochs, config.batchSize) : null,
        plan.worker.optimizer.schedule, plan.update.clipNorm),
    };
    // 4. The steps.
    const { completed, stoppedBy } = await runSteps(run, resume?.weightsVersion ?? 0);
    run.runLog.done();
    const summary = { weights: weightsAt(views, completed).slice(), layout: model.layout, steps: completed, epochs: run.runLog.epochs, overall: run.runLog.overall.summary(config.batchSize), stoppedBy };
    if (stoppedBy) {
      log.warn({ event: 'run_stopped', signal: stoppedBy, step: completed }, 'run_stopped');
      return { ...summary, eval: null };
    }
    // 5. Evaluate on the training rows (as the seed did) and on the test set.
    const report = await evaluateAndLog(log, plan, wp, views, completed);
    log.info({
      event: 'run_end', steps: completed, seconds: round((performance.now() - runStart) / 1000), finalLoss: run.runLog.epochs.at(-1)?.loss ?? null,
      // maxRSS covers the whole process, every worker thread included.
      peakRssMB: round(process.resourceUsage().maxRSS / 1024),
    }, 'run_end');
    return { ...summary, eval: report };
  } finally {
    await closePool(wp);
  }
}

/**
 * The plan's evaluation of its checkpoint's weights, as the run that wrote them ran it at
 * its end (`npm run eval` of a task's checkpoint): the same threads, rows and figures, no
 * step. `fields` lead the `eval` event.
 */
export async function evaluateCheckpoint(plan: RunPlan, log: Logger, data: Dataset, fields: object): Promise<EvalReports | null> {
  const { schedule, resumeFrom } = plan;
  if (!resumeFrom) throw new Error('evaluateCheckpoint: the plan has no checkpoint');
  const { buffers, views } = loadShared(data, plan);
  restore(resumeFrom, views, schedule.firstStep);
  const wp = await createPool(workerInit(buffers, plan), plan.threads, (err) => log.error({ event: 'pool_error', err }, 'pool_error'));
  try {
    return await evaluateAndLog(log, plan, wp, views, schedule.firstStep, fields);
  } finally {
    await closePool(wp);
  }
}

/** What the steps work with: built once by runPlan. */
interface Steps {
  plan: RunPlan;
  options: RunOptions;
  views: SharedViews;
  wp: WorkerPool;
  /** The optimiser's step count before the schedule's first step. */
  optT: number;
  loops: StepLoops;
  /** Early stopping (--early-stopping-patience); null: off. */
  early: EarlyStopping | null;
  order: BatchOrder;
  checkpoints: CheckpointPolicy;
  runLog: RunLog;
}

/**
 * The training steps from the schedule's first to its last, or until a stop. The step
 * loops run every step themselves, gradient and update (src/engine/step-loops.ts); this
 * loop publishes batches ahead of them, up to RING - 1 steps and never past the next
 * checkpoint (a checkpoint of k steps is read while the loops may run step k, which
 * writes the other slot, but not step k + 1), and reads each step's results behind
 * them: checks, logs, checkpoints, stops. Returns the steps completed and why it
 * stopped early, if so.
 */
async function runSteps(r: Steps, firstVersion: number): Promise<{ completed: number; stoppedBy: StopReason | null }> {
  const { plan, options, views, loops, checkpoints, runLog, early } = r;
  const { schedule } = plan;
  let completed = schedule.firstStep;
  let published = completed;
  /** The weights version step `step` reads: the updates since the run's first version. */
  const versionOf = (step: number) => firstVersion + (step - schedule.firstStep);
  // The steps whose checkpoint, if one was due, is written: the loops may not go past
  // the next checkpoint after them.
  let handled = completed;
  // A caller's onBatchEnd may stop the run at the step it is told of (train()'s
  // AbortSignal), and the state after that step lasts only until the loops finish the
  // next one (two slots). So with it the loops get the next batch only after the
  // callback: one step at a time, the coordinator back on the step's path.
  const lockstep = options.onBatchEnd !== undefined;
  // Likewise a caller's onEpochEnd may stop the run at the epoch's end (Keras's
  // stop_training): the loops do not start the next epoch before it has been heard.
  // So does the validation after every epoch, which needs the threads.
  const epochGate = () => (options.onEpochEnd || plan.validation || plan.earlyStopping ? (schedule.epochOf(handled) + 1) * schedule.stepsPerEpoch : Infinity);
  // Set when early stopping ends the run at an epoch's end, before the loops may start the next one.
  let stoppedEarly = false;
  const publishAhead = () => {
    const gate = Math.min(completed + (lockstep ? 1 : RING), checkpoints.next(handled) + 1, epochGate(), schedule.totalSteps);
    for (; published < gate; published++) {
      r.order.fill(published, batchSlot(views, published));
      loops.publishBatch(published);
    }
  };
  /** b. Checks step `step`'s results and its loss over the global normaliser; d. accounts and logs it. Returns true at an epoch's end. */
  const account = (step: number, results: ShardResult[], validation?: Validation): boolean => {
    const g = checkStep(results, r.wp, step, versionOf(step), plan.update.batchSize, plan.update.normalize);
    completed = step + 1;
    return runLog.stepDone(step, g.loss, loops.timing(step, results), results, validation);
  };
  /**
   * The validation after the epoch that ends with `steps` steps: the loops wait at the
   * next epoch's first batch (held back by epochGate) and are stopped; the workers
   * predict the validation rows with the weights after `steps` steps; the loops start
   * again at that step.
   */
  const validateEpoch = async (steps: number): Promise<Validation> => {
    await loops.stop(plan.faults.stepTimeoutMs);
    const figures = await validate(plan, r.wp, steps);
    if (steps < schedule.totalSteps) loops.start(steps, versionOf(steps), r.optT + (steps - schedule.firstStep));
    return figures;
  };
  /**
   * Stops the loops at their next wait, then checks and logs the steps they finished
   * after the last one read (their records are still in the ring): every step a
   * checkpoint holds has been checked. Returns the steps completed.
   */
  const stopAndDrain = async (): Promise<number> => {
    const finished = await stopLoops(loops, plan);
    for (let step = completed; step < finished; step++) {
      account(step, await loops.results(step, versionOf(step)));
    }
    return finished;
  };
  // A stop that came while starting the pool: no step is started.
  let stoppedBy = options.stopRequested?.() ?? null;
  if (completed < schedule.totalSteps && !stoppedBy) {
    loops.start(completed, firstVersion, r.optT);
    publishAhead();
    for (let step = completed; step < schedule.totalSteps; step++) {
      const version = versionOf(step);
      // a. Every shard's result of the step (a stop that outlasts a hung step ends here).
      // The coordinator sleeps until the loops would run out of published batches (or
      // YIELD_MS), then reads every step done meanwhile; the first step is seen at once
      // (time to first step).
      const wakeAt = step === schedule.firstStep ? step + 1 : published;
      const results = await stepResults(loops, step, version, wakeAt, options, () => checkpoints.trySave(completed, 'shard_failed'));
      if (typeof results === 'string') {
        stoppedBy = results;
        completed = await stopAndDrain();
        checkpoints.save(completed, stoppedBy);
        break;
      }
      // b.-d. Check, account and log (timing read before publishing reuses its record),
      //    with the validation figures at an epoch's end.
      const validation = plan.validation && schedule.endsEpoch(step) ? await validateEpoch(step + 1) : undefined;
      const epochDone = account(step, results, validation);
      if (epochDone && early) {
        const last = runLog.epochs.at(-1)!;
        if (early.epochEnd(last.epoch, last, weightsAt(views, completed))) {
          // The loops wait at the next epoch's first batch: the weights are still.
          const restored = early.restore(weightsAt(views, completed));
          runLog.note({ event: 'early_stop', epoch: last.epoch, step: completed, ...early.summary(), restored });
          stoppedEarly = true;
        }
      }
      // c. Batches further ahead, into the slots of the steps now done.
      if (!lockstep) publishAhead();
      // e. Checkpoint (the files hold the weights of `completed` steps) or stop.
      const writeFailure = options.writeFailure?.();
      if (writeFailure) {
        // The log cannot be written (its disk is full, stdout is closed): keep what was learned if the checkpoint directory still takes it.
        completed = await stopAndDrain();
        checkpoints.trySave(completed, 'log_write_failed');
        throw writeFailure;
      }
      stoppedBy = options.stopRequested?.() ?? null;
      if (stoppedBy) {
        // The loops may be steps ahead: they stop at their next wait, and the
        // checkpoint holds every step that all of them finished.
        completed = await stopAndDrain();
        checkpoints.save(completed, stoppedBy);
        break;
      }
      const reason = checkpoints.due(completed, epochDone);
      if (reason) checkpoints.save(completed, reason);
      if (stoppedEarly) break; // after its checkpoint; the evaluation follows as at the end
      handled = completed;
      publishAhead(); // past the checkpoint now; in lockstep, the next step
    }
  }
  // After a stop every loop is asked to end; one that does not within 200 ms (a hung
  // thread) is terminated, so the process exits within the signal grace.
  await loops.stop(stoppedBy ? Math.min(200, plan.faults.stepTimeoutMs) : plan.faults.stepTimeoutMs);
  return { completed, stoppedBy };
}

/** Stops the loops at their next wait (200 ms at most); returns the steps every one of them finished. */
async function stopLoops(loops: StepLoops, plan: RunPlan): Promise<number> {
  await loops.stop(Math.min(200, plan.faults.stepTimeoutMs));
  return loops.channel.completed();
}

function stoppedEarly(log: Logger, reason: StopReason, weights: Float32Array, layout: ParamLayout, steps: number): RunSummary {
  log.warn({ event: 'run_stopped', signal: reason, step: steps }, 'run_stopped');
  const none = new StepStats(1).summary(1);
  return { weights: weights.slice(), layout, steps, epochs: [], overall: none, eval: null, stoppedBy: reason };
}

/** The first weights (the model's, or --init-from's) and the optimiser's first state into slot 0; returns the optimiser's step count, 0. */
function fresh(plan: RunPlan, views: SharedViews): number {
  if (plan.initFrom) weightsAt(views, 0).set(plan.initFrom);
  else plan.model.init(weightsAt(views, 0));
  initState(plan.worker.optimizer.config, optStateAt(views, 0));
  return 0;
}

/** A checkpoint of `steps` steps into slot steps % 2; returns the optimiser's step count. */
function restore(ckpt: LoadedCheckpoint, views: SharedViews, steps: number): number {
  weightsAt(views, steps).set(ckpt.weights);
  optStateAt(views, steps).forEach((s, k) => s.set(ckpt.optimizer.state[k]));
  return ckpt.optimizer.t;
}

function faultPolicy(plan: RunPlan, log: Logger): FaultPolicy {
  return { ...plan.faults, onFault: (f) => log.warn({ event: 'worker_fault', ...f }, 'worker_fault') };
}

/**
 * The shards' results for `step`, or the stop reason when a stop outlasted a hung step.
 * A shard that failed for good keeps what was learned (`saveOnFailure`), then throws; a
 * non-finite gradient is not saved over the last good checkpoint.
 */
async function stepResults(loops: StepLoops, step: number, version: number, wakeAt: number, options: RunOptions, saveOnFailure: () => void) {
  try {
    return await loops.results(step, version, options.stopRequested, wakeAt);
  } catch (e) {
    if (e instanceof StepAbandoned) return e.signal;
    if (e instanceof ShardFailedError) saveOnFailure();
    throw e;
  }
}

function logStart(log: Logger, plan: RunPlan, wp: WorkerPool, startupMs: number): void {
  const { config, model, resumeFrom } = plan;
  log.info({
    event: 'run_start', config: configJson(config), backend: config.backend, numParams: model.layout.numParams, numWorkers: config.workers, numThreads: wp.threads.length,
    numTrain: plan.numTrain, numTest: plan.numTest, inputSize: plan.inputSize, layout: model.layout.params.map(({ name, shape }) => ({ name, shape })),
    resumedFrom: resumeFrom ? { checkpoint: resumeFrom.checkpoint, step: resumeFrom.step } : null,
    startupMs: round(startupMs),
  }, 'run_start');
  // Worker-side events reach the log through the coordinator, tagged with workerIndex:
  // workers never open log streams of their own.
  wp.threads.forEach((t, workerIndex) => {
    log.child({ workerIndex }).info({ event: 'worker_ready', threadId: t.threadId, backend: t.backend, setupMs: round(t.setupMs) }, 'worker_ready');
  });
}
