// The library: `train()` with a fit-like API, its option and result types, and the
// errors it throws (each with a stable `code`). It never exits the process and writes
// to stdout or stderr only when asked (`logger: true`).
import type { Logger } from 'pino';
import { datasetFromArrays } from './data/arrays.js';
import type { ArraySplit } from './data/arrays.js';
import type { Config } from './settings/config.js';
import { resolveSettings } from './settings/config.js';
import { createLogger, wrapLogger } from './run/log.js';
import { runSession } from './run/session.js';
import type { SessionCallbacks, TrainResult } from './run/session.js';
import type { EvalReport, LossReport, SplitReport, TaskSplitReport } from './metrics/eval.js';
import type { SettingValues } from './settings/settings.js';

// Written out rather than mapped from the settings table (src/settings/settings.ts), so
// that the package's .d.ts shows users a plain interface whose keys carry their own doc
// comments, not the table's internals. The assertion below it keeps the two equal.
/**
 * Every key of config/default.jsonc, with the same names and the same checks as the CLI's
 * flags (their defaults and meanings: the flag table of docs/cli.md).
 */
export interface TrainerSettings {
  workers?: number;
  /** Step-loop threads for the workers' shards, 1..workers; null (default): min(workers, cores). */
  threads?: number | null;
  epochs?: number;
  batchSize?: number;
  /** sgd | momentum | rmsprop | adam (default) | adamax | adagrad (tf.train's) | adamw (Adam with decoupled weight decay). */
  optimizer?: Config['optimizer'];
  /** The learning rate (default 0.001); a schedule's first rate. */
  lr?: number;
  /** adam, adamax, adamw (default 0.9). */
  beta1?: number;
  /** adam, adamax, adamw (default 0.999). */
  beta2?: number;
  /** adam, adamax, adamw, rmsprop (default 1e-7). */
  eps?: number;
  /** momentum, rmsprop; null (default): 0.9 for momentum, 0 for rmsprop. */
  momentum?: number | null;
  /** momentum: Nesterov's update (default false). */
  useNesterov?: boolean;
  /** rmsprop: the discount of the squared gradients' mean (default 0.9; Keras' rho). */
  decay?: number;
  /** rmsprop (default false). */
  centered?: boolean;
  /** adagrad (default 0.1). */
  initialAccumulatorValue?: number;
  /** adamw: the decoupled weight decay (default 0.004, Keras'). */
  weightDecay?: number;
  /** Clip the whole reduced gradient to this global norm before the update (Keras' global_clipnorm); null (default): none. */
  clipNorm?: number | null;
  /** constant (default) | exponential | piecewise | cosine: the learning rate per step, as Keras' schedules. */
  lrSchedule?: Config['lrSchedule'];
  /** exponential: steps per decayRate; cosine: steps to decay over. */
  decaySteps?: number | null;
  /** exponential: the factor per decaySteps steps. */
  decayRate?: number | null;
  /** exponential: decay in whole intervals (default false). */
  staircase?: boolean;
  /** piecewise: the steps at which the rate changes, ascending. */
  boundaries?: number[];
  /** piecewise: the rates, one more than the boundaries. */
  lrValues?: number[];
  /** cosine: the fraction of lr it ends at (default 0). */
  alpha?: number;
  /** A linear warm-up before the schedule: step k < N runs at (k + 1) / N of its first rate (default 0). */
  warmupSteps?: number;
  seed?: number;
  /** odd | even | all | classes=1,3,7: which classes get condition 1. */
  mask?: string;
  /** batch (default) | weight: the batch's sum of the task's sample weights | condition (the built-in task's weight). */
  normalize?: Config['normalize'];
  /** A task module: a path (relative to the current directory), a file: URL string, or a URL. Omitted: the built-in task. */
  task?: string | URL | null;
  /** auto (default) | general | fast (the built-in task only). */
  engine?: Config['engine'];
  progressEvery?: number;
  logLevel?: Config['logLevel'];
  /** Also append the NDJSON log to this file. */
  logFile?: string | null;
  /** With `logger: true`: NDJSON (json) or pino-pretty on stdout. */
  logFormat?: Config['logFormat'];
  backend?: Config['backend'];
  limit?: number | null;
  /** Hold out the last fraction of the training rows (before shuffling) and report `val_loss` on them after every epoch; 0 (default): none. */
  validationSplit?: number;
  /** 'test': the test set is the validation data; 'none' (default). */
  validation?: Config['validation'];
  /** Early stopping (Keras' EarlyStopping): stop after this many epochs without improvement; null (default): off. */
  earlyStoppingPatience?: number | null;
  /** What early stopping watches: 'loss', 'val_loss' (default) or 'val_<metric>'. */
  earlyStoppingMonitor?: string;
  /** The least change that counts as an improvement (default 0). */
  minDelta?: number;
  /** End an early-stopped run with the best epoch's weights (default false). */
  restoreBestWeights?: boolean;
  deterministic?: boolean;
  microShardRows?: number;
  stepTimeout?: number;
  maxRetries?: number;
  /** Fine-tuning: start from a saved TF.js Layers model's weights (a model.json, its directory, or a checkpoint directory); null (default): the model's own. */
  initFrom?: string | null;
  checkpointDir?: string | null;
  checkpointEvery?: number | null;
  keep?: number;
  resume?: string | null;
  /** After the last step, evaluate on `all` (default: the training rows and the test set), the `test` set only, or `none`. */
  evaluate?: Config['evaluate'];
  /** Evaluate on the first N rows of each split only; null (default): every row. */
  evalLimit?: number | null;
  model?: Config['model'];
}

// TrainerSettings has every key of the settings table, with the table's value types,
// and no other: but for `data` (TrainOptions', where it also takes arrays) and `task`
// (a URL too). `mask` is the rule's text, as in the table (Config holds it parsed).
type Plain<T> = { [K in keyof T]: T[K] };
type Same<A, B> = (<T>() => T extends Plain<A> ? 1 : 2) extends (<T>() => T extends Plain<B> ? 1 : 2) ? true : false;
true satisfies Same<Required<TrainerSettings>, Omit<SettingValues, 'data' | 'task'> & { task: string | URL | null }>;

export type { ArraySplit };

/** A task module's report of a split: its mean loss, with the class report when its output has class columns. */
export type TaskReport = TaskSplitReport | LossReport;

export interface TrainOptions<R extends EvalReport = EvalReport> extends TrainerSettings {
  /**
   * A directory of IDX files laid out like MNIST (a string or `{ dir }`), or typed
   * arrays `{ train: { images, labels, shape }, test? }`. Omitted: the built-in MNIST.
   */
  data?: string | { dir: string } | { train: ArraySplit; test?: ArraySplit };
  /**
   * Validation data given apart (Keras' `validation_data`): rows in the form of a split
   * of `data`'s arrays, `{ images, labels, shape, labelWidth? }`, of the same row shape,
   * type and label width as the training rows. Never trained on; after every epoch the
   * workers report `val_loss` and `val_<metric>` on them. Not with `validationSplit` or
   * `validation: 'test'` (a dataset directory's test set as validation data).
   */
  validationData?: ArraySplit;
  callbacks?: SessionCallbacks<R>;
  /** false (default): silent; true: the CLI's log on stdout; or a pino logger that receives every event. */
  logger?: boolean | Logger;
  /** Stops the run after the step in flight; checkpoints when a directory is set. */
  signal?: AbortSignal;
}

export type { TrainResult, SessionCallbacks as TrainCallbacks };
export type { EvalReport, LossReport, SplitReport, TaskSplitReport } from './metrics/eval.js';
export type { ModelContext, TaskContext, TaskModule } from './task/contract.js';
export { TaskError } from './task/contract.js';
export type { ParamLayout, ParamSpec } from './model/layout.js';
export type { StepSummary } from './run/run-log.js';
export type { StopReason } from './engine/step-loops.js';

export { ConfigError } from './settings/config.js';
export { DataError } from './data/idx.js';
export { CheckpointError } from './checkpoint/checkpoint.js';
export { OutputError, WriteError } from './files/outputs.js';
export { NonFiniteError, ShardFailedError } from './engine/step-loops.js';

/**
 * Trains data-parallel on worker threads and resolves to the history, the evaluation's
 * report and the weights. `train({})` runs the seed with its defaults. Bad input throws
 * one of the errors above before anything is written. The report's type follows the
 * task: the seed's SplitReport for the built-in task, a TaskReport for a task module,
 * either for a resumed run (its task is the checkpoint's).
 */
export function train(options?: TrainOptions<SplitReport> & { task?: null; resume?: null }): Promise<TrainResult<SplitReport>>;
export function train(options: TrainOptions<TaskReport> & { task: string | URL }): Promise<TrainResult<TaskReport>>;
export function train(options?: TrainOptions): Promise<TrainResult<EvalReport>>;
// The implementation takes callbacks of any report type: each overload's is one of them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function train(options: TrainOptions<any> = {}): Promise<TrainResult<EvalReport>> {
  const { data, validationData, callbacks, logger = false, signal, ...settings } = options;
  const dir = typeof data === 'string' ? data : data && 'dir' in data ? data.dir : undefined;
  const arrays = data && typeof data === 'object' && 'train' in data ? data : undefined;
  const task = settings.task instanceof URL ? settings.task.href : settings.task;
  const rest: Record<string, unknown> = { ...settings, task, ...(dir === undefined ? {} : { data: dir }) };
  return runSession({
    resolve: (base, crossChecks) => resolveSettings(rest, base, crossChecks),
    data: arrays ? (numClasses) => datasetFromArrays(arrays, numClasses) : undefined,
    validationData,
    logger: (config) => {
      if (logger === true) return createLogger(config.logLevel, config.logFile, config.logFormat);
      return wrapLogger(logger === false ? null : logger, config.logLevel, config.logFile);
    },
    signal,
    callbacks,
  });
}
