// One training session as both the CLI and train() run it: every check before anything
// is written (prepare.ts), then the logger, then the run (coordinator.ts), then the result in
// the shape a TF.js user knows (tf.History). Errors are thrown, never turned into exits.
import type { Dataset } from '../data/idx.js';
import type { ArraySplit } from '../data/arrays.js';
import { hold } from '../engine/faults.js';
import type { ParamLayout } from '../model/layout.js';
import type { EvalReport, SplitReport } from '../metrics/eval.js';
import type { Config, ConfigBase } from '../settings/config.js';
import type { RunLogger } from './log.js';
import { WriteError } from '../files/outputs.js';
import { prepareRun } from './prepare.js';
import type { EpochSummary, StepCallbacks } from './run-log.js';
import { runPlan } from './coordinator.js';
import type { StopReason } from './coordinator.js';

/** What train() resolves to; `R`, the report of a split: the seed's for the built-in task, a task's (TaskSplitReport or LossReport) for a task module. */
export interface TrainResult<R extends EvalReport = SplitReport> {
  /** The shape of tf.History: `epoch[i]` is the epoch of `history.loss[i]`. */
  history: {
    epoch: number[];
    /** Per epoch; with validation also `val_loss` and `val_<metric>`, as tfjs-layers' History names them. */
    history: Record<'loss' | 'seconds' | 'samplesPerSec' | 'stepMsMedian', number[]> & { [name: `val_${string}`]: number[] };
  };
  /**
   * The report on the training rows and the test set (those `evaluate` names: both by
   * default), as in the `eval` log event: the seed's parity report for the built-in task;
   * for a task module its mean loss, with the class report (a TaskSplitReport: the seed's
   * fields, the whole confusion matrix and the weighted split) when its output has class
   * columns, else a LossReport. Null when stopped before the last step or with
   * `evaluate: 'none'`.
   */
  eval: { train?: R; test?: R } | null;
  /** The trained weights, flat, in `layout` order. */
  weights: Float32Array;
  layout: ParamLayout;
  /** Global steps completed, counting those of a resumed checkpoint. */
  steps: number;
  /** Why the run stopped before its last step: 'abort' (the AbortSignal), 'SIGINT' or 'SIGTERM'; null when it ran to the end. */
  stoppedBy: StopReason | null;
}

export interface SessionCallbacks<R extends EvalReport = EvalReport> extends StepCallbacks {
  /** After the run (and its evaluation): steps, the final epoch's loss, the report. */
  onTrainEnd?: (logs: { steps: number; loss: number | null; eval: TrainResult<R>['eval'] }) => void;
}

export interface Session {
  /** The user's settings over the defaults, or over a checkpoint's config when resuming. */
  resolve: (base?: ConfigBase, crossChecks?: boolean) => Config;
  /** A dataset given as arrays (else the config's directory, else MNIST). */
  data?: (numClasses: number) => Dataset;
  /** Validation data given apart (train()'s validationData), validated after every epoch. */
  validationData?: ArraySplit;
  /** The logger, created once every check has passed (so bad input writes no log file). */
  logger: (config: Config) => RunLogger;
  /** Stops the run after the step in flight (with a checkpoint when a directory is set). */
  signal?: AbortSignal;
  callbacks?: SessionCallbacks;
  progressLine?: boolean;
  /** Told of every invalid checkpoint a resume skips, before the logger exists. */
  onInvalidCheckpoint?: (checkpoint: string, problem: string) => void;
  /** Awaited once everything is loaded and checked, before any thread starts. */
  beforeStart?: () => Promise<void>;
}

/** The reason the signal carries when it is a signal name (the CLI's), else 'abort'. */
const stopReason = (signal: AbortSignal): StopReason => (signal.reason === 'SIGINT' || signal.reason === 'SIGTERM' ? signal.reason : 'abort');

export async function runSession(s: Session): Promise<TrainResult<EvalReport>> {
  const { plan, data, invalid } = await prepareRun(s.resolve, s.data, s.onInvalidCheckpoint, {}, s.validationData);
  await s.beforeStart?.();
  const stopRequested = () => (s.signal?.aborted ? stopReason(s.signal) : null);
  const logger = s.logger(plan.config);
  const { log } = logger;
  for (const i of invalid) log.warn({ event: 'checkpoint_invalid', ...i }, 'checkpoint_invalid');
  try {
    const summary = await runPlan(plan, log, data, {
      stopRequested, writeFailure: logger.failure, progressLine: s.progressLine, ...s.callbacks,
    });
    const failure = logger.failure();
    if (failure) throw failure;
    // A stop during the evaluation or the pool's shutdown still ends the run as a stop.
    const stoppedBy = summary.stoppedBy ?? stopRequested();
    if (stoppedBy && !summary.stoppedBy) log.warn({ event: 'run_stopped', signal: stoppedBy, step: summary.steps }, 'run_stopped');
    const result: TrainResult<EvalReport> = {
      history: historyOf(summary.epochs), eval: summary.eval, weights: summary.weights, layout: summary.layout, steps: summary.steps, stoppedBy,
    };
    // Every step ran (a stop that came later, during the evaluation, keeps its report).
    if (!summary.stoppedBy) s.callbacks?.onTrainEnd?.({ steps: result.steps, loss: summary.epochs.at(-1)?.loss ?? null, eval: result.eval });
    return result;
  } catch (e) {
    hold('failing');
    const path = e instanceof WriteError ? { path: e.path, errno: e.errno } : {};
    log.error({ event: 'run_failed', code: (e as { code?: string }).code, ...path, err: e }, 'run_failed');
    throw e;
  }
}

/** Per epoch of this run (a resumed run starts at the checkpoint's epoch). */
function historyOf(epochs: EpochSummary[]): TrainResult['history'] {
  return {
    epoch: epochs.map((e) => e.epoch),
    history: {
      loss: epochs.map((e) => e.loss),
      seconds: epochs.map((e) => e.seconds),
      samplesPerSec: epochs.map((e) => e.samplesPerSec),
      stepMsMedian: epochs.map((e) => e.stepMsMedian),
      ...validationHistory(epochs),
    },
  };
}

/** The validation figures' series (val_loss, val_<metric>) when every epoch has them. */
function validationHistory(epochs: EpochSummary[]): { [name: `val_${string}`]: number[] } {
  const names = Object.keys(epochs[0] ?? {}).filter((k): k is `val_${string}` => k.startsWith('val_'));
  return Object.fromEntries(names.map((name) => [name, epochs.map((e) => e[name])]));
}
