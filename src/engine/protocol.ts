// The messages between the coordinator and a worker thread, and what a worker gets
// once at start-up. Both sides import this file; nothing here runs TensorFlow.js.
import type { ParamLayout } from '../model/layout.js';
import type { SharedBuffers } from './shared-memory.js';
import type { Normalize } from '../optim/update.js';
import type { OptimizerConfig } from '../optim/optimizers.js';
import type { LrSchedule } from '../optim/schedules.js';
import type { BackendName } from '../model/backends.js';

/** Handed to every worker once, through Piscina's `workerData`. */
export interface WorkerInit {
  buffers: SharedBuffers;
  layout: ParamLayout;
  backend: BackendName;
  /** Values in one image row, and in one combined-label row (trainY, testY). */
  inputSize: number;
  labelWidth: number;
  /**
   * The model path (src/paths/registry.ts names them) and what its worker half needs:
   * the engine passes it on without reading it.
   */
  path: { name: string; settings: unknown };
  /** The optimiser of the update phase (its `lr` is the schedule's rate of each step), and the learning rate's schedule. */
  optimizer: { config: OptimizerConfig; schedule: LrSchedule };
}

/** Rows an evaluation runs through the model at a time. */
export const PREDICT_ROWS = 1000;

export const TASK = { ping: 'ping', loop: 'loop', predict: 'predict' } as const;

/** Starts the message of a task module's export that threw in a worker: not retried (the same rows would fail again). */
export const TASK_FAULT = 'E_TASK: ';

export interface PingTask {
  kind: typeof TASK.ping;
}

export interface PingResult {
  threadId: number;
  backend: string;
  /** Buffers the thread's TensorFlow.js backend holds (engine tensors and direct kernel outputs). */
  numTensors: number;
  /** How long this thread's one-time set-up (backend, views, buffers) took. */
  setupMs: number;
}

/**
 * The training loop's task: one per shard, running steps [firstStep, lastStep) without
 * a message per step. For each step the worker waits until the coordinator has put the
 * step's batch in shared memory (step-channel.ts), gathers its rows, waits for the
 * step's weights version (firstVersion + step - firstStep), writes the gradient SUM of
 * each part of its rows [start, end) of the batch into its own slab from `slab` on,
 * writes its result record, and marks the step done. Returns early on stop.
 */
export interface LoopTask {
  kind: typeof TASK.loop;
  shard: number;
  slab: number;
  start: number;
  end: number;
  /** The task's row ranges, each its own gradient slab from `slab` on (src/engine/shards.ts ShardTask). */
  parts: [number, number][];
  firstStep: number;
  lastStep: number;
  firstVersion: number;
  /** The attempt of firstStep (a loop restarted after a fault); later steps are attempt 0. */
  attempt: number;
  /** The update phase: every shard's loops wait for each other (step-channel.ts); this one updates its slice. */
  update: UpdateTask;
  /** How long the loop waits for a batch or a peer before it gives up (the coordinator or a peer died). */
  waitTimeoutMs: number;
}

/** What a loop needs for its update phase (src/optim/update.ts updateSlice). */
export interface UpdateTask {
  numShards: number;
  /** The global normaliser: the batch size, or every shard's weight sum (1 if 0). */
  batchSize: number;
  normalize: Normalize;
  /** This shard's slice [start, end) of the parameters. */
  sliceStart: number;
  sliceEnd: number;
  /** The optimiser's step count before firstStep. */
  optT: number;
  /** false: reduce into `grad`, update nothing (oneStepGradient). */
  apply: boolean;
  /** Ranges [start, end) of non-trainable parameters: after the step they take shard 0's values in `state`. */
  stateRanges: [number, number][];
  /** Clip the reduced gradient to this global norm (--clip-norm); null: no clipping. */
  clipNorm: number | null;
}

export interface LoopResult {
  steps: number;
  /** Set when the loop stopped at this step without updating: a shard's loss or gradient was not finite. */
  halted?: number;
}

/** Write the predicted class of rows [start, end) of a split into the shared predictions. */
export interface PredictTask {
  kind: typeof TASK.predict;
  /** The weights after this many steps (slot steps % 2). */
  steps: number;
  split: 'train' | 'test';
  start: number;
  end: number;
}

export interface PredictResult {
  rows: number;
  /** Each of the task's metrics summed over the rows (weighted), and the weights' sum (PathWorker.predict). */
  metricSums: number[];
  metricWeight: number;
  /** The rows' loss and weight sums (for the eval's mean loss), when the path computes them. */
  lossSum: number;
  weightSum: number;
}

export type Task = PingTask | LoopTask | PredictTask;
