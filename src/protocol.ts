// The messages between the coordinator and a worker thread, and what a worker gets
// once at start-up. Both sides import this file; nothing here runs TensorFlow.js.
import type { ModelSpec, ParamLayout, SharedBuffers } from './shared-memory.js';

/** Handed to every worker once, through Piscina's `workerData`. */
export interface WorkerInit {
  buffers: SharedBuffers;
  model: ModelSpec;
  layout: ParamLayout;
  backend: 'wasm' | 'cpu' | 'tensorflow';
}

export const TASK = { ping: 'ping', gradient: 'gradient', loop: 'loop', predict: 'predict' } as const;

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
 * Compute the gradient SUM of the masked loss over batch[start, end) into slab `slab`
 * (or one slab per micro-shard), with the weights of `weightsVersion` (waiting for it
 * to be published).
 */
export interface GradientTask {
  kind: typeof TASK.gradient;
  step: number;
  weightsVersion: number;
  /** The first slab written; with microRows > 0, micro-shard j goes to slab + j. */
  slab: number;
  start: number;
  end: number;
  microRows: number;
  /** The worker index this task is the shard of (its position in the plan). */
  shard: number;
  /** 0 on the first try; counts retries after a worker fault (used by fault injection). */
  attempt: number;
}

export interface GradientResult {
  lossSum: number;
  /** True when a gradient value written to a slab is NaN or infinite. */
  nonFinite: boolean;
  /** With micro-shards: each micro-shard's loss sum, so the coordinator adds them in order. */
  microLossSums?: number[];
  conditionSum: number;
  rows: number;
  /** The worker thread that computed it (for logs and tests). */
  threadId: number;
  /** The weights version the worker read from shared memory, checked by the coordinator. */
  weightsVersion: number;
  /** Buffers held after the task: must equal the count at start-up (no leaks). */
  numTensors: number;
  /**
   * prep: gather rows and wait for the weights (overlaps the coordinator's Adam);
   * compute: weights in, forward, backward, gradients into the slab(s). readyAt /
   * endedAt are absolute (performance.timeOrigin-based) ms, comparable across threads.
   */
  timings: { prepMs: number; computeMs: number; readyAt: number; endedAt: number };
}

/**
 * The training loop's task: one per shard, running steps [firstStep, lastStep) without
 * a message per step. For each step the worker waits until the coordinator has put the
 * step's batch in shared memory (control batchStep), gathers its rows, waits for the
 * step's weights version (firstVersion + step - firstStep), computes its gradient sum
 * as a GradientTask would, writes its result record, and marks the step done (control
 * done(shard)). Returns early when the coordinator sets control stop.
 */
export interface LoopTask {
  kind: typeof TASK.loop;
  shard: number;
  slab: number;
  start: number;
  end: number;
  microRows: number;
  firstStep: number;
  lastStep: number;
  firstVersion: number;
  /** The attempt of firstStep (a loop restarted after a fault); later steps are attempt 0. */
  attempt: number;
}

export interface LoopResult {
  steps: number;
}

/** Write the predicted class of rows [start, end) of a split into the shared predictions. */
export interface PredictTask {
  kind: typeof TASK.predict;
  split: 'train' | 'test';
  start: number;
  end: number;
}

export interface PredictResult {
  rows: number;
}

export type Task = PingTask | GradientTask | LoopTask | PredictTask;
