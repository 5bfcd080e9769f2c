// A run's plan: every setting resolved once, up front, into one frozen object (the
// schedule, the shard plan and threads, the model path and its layout, label rows and
// first weights, what every worker gets at start-up, the update's and the fault
// policy's settings, the checkpoint and progress policy, which evaluation runs). The run
// (coordinator.ts) reads it and never re-derives; the CLI, train(), the tests and the benches
// all get it from prepareRun (prepare.ts), which checks everything first.
import type { Dataset } from '../data/types.js';
import { trainRows } from '../data/types.js';
import type { WorkerInit } from '../engine/protocol.js';
import { planShards } from '../engine/shards.js';
import type { ShardPlan } from '../engine/shards.js';
import type { FaultPolicy } from '../engine/step-loops.js';
import type { Normalize } from '../optim/update.js';
import { optimizerOf, lrScheduleOf } from '../settings/config.js';
import type { RunModel } from '../paths/path.js';
import type { LoadedCheckpoint } from '../checkpoint/checkpoint.js';
import { threadsOf } from '../settings/config.js';
import type { Config } from '../settings/config.js';
import { scheduleOf } from './schedule.js';
import type { Schedule } from './schedule.js';

/** What the programs that drive a run may cut short (benchmarks, tests, the profiler). */
export interface RunLimits {
  /** Stop after this many steps (epochs continue as configured up to it). */
  maxSteps?: number;
  /** Leave the first steps (JIT warm-up) out of the run's overall statistics. */
  warmupSteps?: number;
  /** Run the evaluation after the last step (default true: of the splits --eval names), or of these splits. */
  evaluate?: boolean | readonly ('train' | 'test')[];
}

/** The evaluation after the last step: the seed's parity report or a task's, on the first rows of each split it names; or none. */
export type EvaluationPlan =
  | { kind: 'builtin' | 'task'; rows: { readonly train?: number; readonly test?: number } }
  | { kind: 'off' };

/** The rows validated after every epoch: the validation split after the trained rows, or the test set. */
export interface ValidationPlan {
  readonly split: 'train' | 'test';
  readonly start: number;
  readonly end: number;
}

/** Keras' EarlyStopping: the figure watched, minimised or maximised, for how many epochs. */
export interface EarlyStoppingPlan {
  readonly monitor: string;
  readonly mode: 'min' | 'max';
  readonly patience: number;
  readonly minDelta: number;
  readonly restoreBestWeights: boolean;
}

export interface RunPlan {
  /** The resolved settings, as run_start logs them and checkpoints store them. */
  readonly config: Readonly<Config>;
  /** The training rows loaded (the first, --limit): the trained ones, then the validation split. */
  readonly numRows: number;
  /** Training rows trained on (the first numTrain), test rows, values per row. */
  readonly numTrain: number;
  readonly numTest: number;
  readonly inputSize: number;
  /** train() was given the data as arrays (no directory to name in a checkpoint). */
  readonly dataFromArrays: boolean;
  readonly schedule: Schedule;
  /** The step-loop threads, and each one's task of a step (its parts, its slabs). */
  readonly threads: number;
  readonly shards: ShardPlan;
  /** The model, its path and layout, its label rows and first weights (src/paths/). */
  readonly model: RunModel;
  /** What every worker gets once, but the shared memory the run allocates. */
  readonly worker: Omit<WorkerInit, 'buffers'>;
  /** The update phase: the normaliser's inputs, and BatchNorm's ranges that take shard 0's values. */
  readonly update: { readonly batchSize: number; readonly normalize: Normalize; readonly stateRanges: readonly [number, number][]; readonly clipNorm: number | null };
  readonly faults: Omit<FaultPolicy, 'onFault'>;
  /** Where checkpoints go (--checkpoint-dir, else the --resume directory), how often, how many kept. */
  readonly checkpoints: { readonly dir: string | null; readonly every: number | null; readonly keep: number };
  readonly progressEvery: number;
  readonly evaluation: EvaluationPlan;
  /** What is validated after every epoch (--validation-split, --validation); null: nothing. */
  readonly validation: ValidationPlan | null;
  /** Early stopping (--early-stopping-patience and its settings); null: off. */
  readonly earlyStopping: EarlyStoppingPlan | null;
  /** The checkpoint the run continues from, already checked against the rest of the plan. */
  readonly resumeFrom: LoadedCheckpoint | null;
  /** --init-from's weights, in layout order (a fresh run's first weights); null: the model's own. */
  readonly initFrom: Float32Array | null;
}

/**
 * The plan of a run of `config` on `data` with `model` (the registry's choice, built and
 * checked), from `resumeFrom` when resuming. Assumes prepareRun's checks have passed.
 */
export function planRun(config: Config, data: Dataset, model: RunModel, resumeFrom: LoadedCheckpoint | null, limits: RunLimits = {}, initFrom: Float32Array | null = null): RunPlan {
  const { numRows, numTrain } = rowsOf(config, data);
  const threads = threadsOf(config);
  const plan: RunPlan = {
    config: structuredClone(config),
    numRows, numTrain, numTest: data.test.count, inputSize: data.train.inputSize, dataFromArrays: data.dir === null,
    schedule: scheduleOf(numTrain, config.batchSize, config.epochs, resumeFrom?.step ?? 0, limits.maxSteps, limits.warmupSteps),
    threads,
    shards: planShards(config.batchSize, config.workers, config.deterministic ? config.microShardRows : 0, threads),
    model,
    worker: {
      layout: model.layout, backend: config.backend, inputSize: model.spec.inputSize, labelWidth: model.task.labelWidth,
      path: { name: model.path, settings: model.workerSettings },
      optimizer: { config: optimizerOf(config), schedule: lrScheduleOf(config) },
    },
    update: {
      batchSize: config.batchSize, normalize: config.normalize,
      stateRanges: model.layout.params.filter((_, i) => !model.trainable[i]).map((p) => [p.offset, p.offset + p.size]),
      clipNorm: config.clipNorm,
    },
    faults: { stepTimeoutMs: config.stepTimeout, maxRetries: config.maxRetries },
    checkpoints: { dir: config.checkpointDir ?? config.resume, every: config.checkpointEvery, keep: config.keep },
    progressEvery: config.progressEvery,
    evaluation: evaluationOf(config, model, numTrain, data.test.count, limits.evaluate ?? true),
    validation: numTrain < numRows ? { split: 'train', start: numTrain, end: numRows }
      : config.validation === 'test' ? { split: 'test', start: 0, end: data.test.count } : null,
    earlyStopping: config.earlyStoppingPatience === null ? null : {
      monitor: config.earlyStoppingMonitor, mode: config.earlyStoppingMonitor.includes('accuracy') ? 'max' : 'min',
      patience: config.earlyStoppingPatience, minDelta: config.minDelta, restoreBestWeights: config.restoreBestWeights,
    },
    resumeFrom: resumeFrom ?? null,
    initFrom,
  };
  // Frozen all the way down, but for the model itself (it holds the task module, typed
  // arrays and functions) and the checkpoint's arrays: a consumer that tried to re-derive
  // by writing into the plan fails loudly. The objects it shares with plan.worker (its
  // layout, spec, topology and worker settings) are frozen through that.
  return deepFreeze(plan, new Set<unknown>([model, resumeFrom]));
}

/**
 * The training rows loaded (the first, --limit) and those trained on: all of them, or,
 * with --validation-split F, the first floor(rows * (1 - F)), the rest held out for
 * validation (Keras' validation_split: the last rows, before shuffling), or all but the
 * validation data given apart (train()'s validationData, loaded after them).
 */
export function rowsOf(config: Pick<Config, 'limit' | 'validationSplit'>, data: Dataset): { numRows: number; numTrain: number } {
  const numRows = trainRows(data, config.limit);
  const held = data.validationRows ?? (config.validationSplit > 0 ? numRows - Math.floor(numRows * (1 - config.validationSplit)) : 0);
  return { numRows, numTrain: numRows - held };
}

/**
 * --eval and --eval-limit: the splits and how many of their first rows. The built-in task
 * keeps the seed's parity report on either path; any other task reports its mean loss,
 * and the class report too when its output has class columns.
 */
function evaluationOf(config: Config, model: RunModel, numTrain: number, numTest: number, evaluate: RunLimits['evaluate'] & {}): EvaluationPlan {
  const splits = evaluate === true ? { all: ['train', 'test'], test: ['test'], none: [] }[config.evaluate] : evaluate || [];
  if (splits.length === 0) return { kind: 'off' };
  const limit = config.evalLimit ?? Infinity;
  const rows = { ...(splits.includes('train') ? { train: Math.min(numTrain, limit) } : {}), ...(splits.includes('test') ? { test: Math.min(numTest, limit) } : {}) };
  return { kind: 'builtin' in model.task.ref ? 'builtin' : 'task', rows };
}

function deepFreeze<T>(value: T, keep: Set<unknown>): T {
  if (value === null || typeof value !== 'object' || keep.has(value) || ArrayBuffer.isView(value) || Object.isFrozen(value)) return value;
  for (const v of Object.values(value)) deepFreeze(v, keep);
  return Object.freeze(value);
}
