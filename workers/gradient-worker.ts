// The code that runs inside one Piscina worker thread. It exports one function and
// does not know the pool exists: a task comes in, results go into shared memory, a
// small summary goes back. One-time set-up (backend, views, buffers) is memoised.
import Piscina from 'piscina';
import * as tf from '@tensorflow/tfjs-core';
import { forwardLogits, initBackend, shardLossAndGradient, weightInputs, weightTensors } from '../src/mlp-tf.js';
import { heldBuffers, Kernels } from '../src/kernels.js';
import type { Info } from '../src/kernels.js';
import type { GradientResult, GradientTask, LoopResult, LoopTask, PingResult, PredictResult, PredictTask, Task, WorkerInit } from '../src/protocol.js';
import { TASK } from '../src/protocol.js';
import { assertSameLayout, batchSlot, CONTROL, doneSlot, failedSlot, paramLayout, viewsOf, writeResult } from '../src/shared-memory.js';
import type { SharedViews } from '../src/shared-memory.js';
import { gatherRows } from '../src/shards.js';
import type { ShardBuffers } from '../src/shards.js';
import { threadId } from 'node:worker_threads';
import { faultFor, parseFaults } from '../src/faults.js';

interface State {
  setupMs: number;
  init: WorkerInit;
  views: SharedViews;
  buf: ShardBuffers;
  /** Runs the training step's kernels without the engine (src/kernels.ts). */
  k: Kernels;
}

let state: Promise<State> | undefined;

async function setup(): Promise<State> {
  const t0 = performance.now();
  const init = Piscina.workerData as WorkerInit | undefined;
  if (!init || typeof init !== 'object' || !init.buffers || !init.model || !init.layout) {
    throw new Error('gradient worker started without its WorkerInit in workerData');
  }
  // The worker recomputes the layout from the model spec and refuses to run if it
  // differs from the coordinator's: a silent mismatch would train garbage.
  assertSameLayout(init.layout, paramLayout(init.model));
  await initBackend(init.backend);
  const views = viewsOf(init.buffers, init.layout.numParams);
  const maxRows = batchSlot(views, 0).length;
  const { inputSize, numClasses } = init.model;
  const buf: ShardBuffers = {
    x: new Float32Array(maxRows * inputSize),
    xT: new Float32Array(maxRows * inputSize),
    label: new Float32Array(maxRows * (numClasses + 1)),
  };
  return { init, views, buf, k: new Kernels(), setupMs: performance.now() - t0 };
}

/** How long a task waits for its weights version before giving up (the coordinator died). */
const WEIGHTS_TIMEOUT_MS = 60_000;

/** The coordinator set control `stop` while a step loop waited: the loop ends quietly. */
class Stopped extends Error {}

/**
 * Blocks until the coordinator has published `version` (Atomics.wait: no spinning).
 * A step's rows are gathered while the coordinator may still be applying Adam for the
 * previous step, so that gathering overlaps the serial part of the step.
 */
function waitForWeights(control: Int32Array, version: number): void {
  const deadline = performance.now() + WEIGHTS_TIMEOUT_MS;
  for (;;) {
    if (Atomics.load(control, CONTROL.stop) !== 0) throw new Stopped('stopped');
    const v = Atomics.load(control, CONTROL.weightsVersion);
    if (v === version) return;
    if (v > version) throw new Error(`task for weights version ${version} arrived after version ${v} was published`);
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`weights version ${version} was not published within ${WEIGHTS_TIMEOUT_MS} ms`);
    Atomics.wait(control, CONTROL.weightsVersion, v, left);
  }
}

/**
 * One shard (or micro-shard): rows [start, end) of the batch, already gathered into
 * `buf`, with the step's weight tensors `w`. Writes the gradient SUM into `slab`;
 * returns the loss sum.
 */
function shardGradient(s: State, rows: number, w: Info[], slab: Float32Array): number {
  if (rows === 0) {
    slab.fill(0);
    return 0;
  }
  return shardLossAndGradient(s.k, w, s.init.model, s.init.layout, { rows, ...s.buf }, slab);
}

function allFinite(a: Float32Array): boolean {
  // x * 0 is 0 for finite x and NaN for NaN or +-Infinity: one multiply-add per value.
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc += a[i] * 0;
  return acc === 0;
}

function gather(s: State, step: number, start: number, end: number): number {
  const { views, buf, init } = s;
  return gatherRows(views.trainImages, views.trainLabels, views.trainCond, batchSlot(views, step), start, end, init.model.inputSize, init.model.numClasses, buf);
}

const faults = parseFaults(process.env.TRAINER_FAULTS);

/** Test-only: misbehave as TRAINER_FAULTS asks (see src/faults.ts). */
function injectFault(task: GradientTask): 'nan' | null {
  const kind = faultFor(faults, task.step, task.shard, task.attempt);
  if (kind === 'throw') throw new Error(`injected fault: throw at step ${task.step}, shard ${task.shard}`);
  if (kind === 'exit') process.exit(3);
  if (kind === 'hang') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  return kind === 'nan' ? 'nan' : null;
}

function gradient(s: State, task: GradientTask): GradientResult {
  const { views } = s;
  const injected = faults.length ? injectFault(task) : null;
  const t0 = performance.now();
  const micro = task.microRows > 0;
  // 1. Gather the shard's rows (in normal mode): needs only the dataset and the batch
  //    indices, not the weights, so it runs while the coordinator may still be
  //    updating them. Micro-shards are gathered one at a time below.
  let conditionSum = micro ? 0 : gather(s, task.step, task.start, task.end);
  // 2. Wait for this step's weights. The version is read before the weights and the
  //    coordinator writes weights only before publishing a version, so a matching
  //    version proves these weights are the step's.
  waitForWeights(views.control, task.weightsVersion);
  const weightsVersion = Atomics.load(views.control, CONTROL.weightsVersion);
  const tReady = performance.now();
  // 3. Forward, masked loss sum, backward, gradient into the slab: once per shard, or
  //    once per micro-shard, each into its own slab.
  //    The weights are copied into tensors once per task: micro-shards share them (and
  //    XNNPACK packs the first layer's kernel once instead of once per micro-shard).
  let lossSum = 0;
  let microLossSums: number[] | undefined;
  const mark = s.k.mark();
  const w = weightInputs(s.k, views.weights, s.init.layout);
  try {
    if (!micro) {
      lossSum = shardGradient(s, task.end - task.start, w, views.slabs[task.slab]);
    } else {
      microLossSums = [];
      for (let start = task.start, j = 0; start < task.end; start += task.microRows, j++) {
        const end = Math.min(start + task.microRows, task.end);
        conditionSum += gather(s, task.step, start, end);
        const l = shardGradient(s, end - start, w, views.slabs[task.slab + j]);
        microLossSums.push(l);
        lossSum += l;
      }
    }
  } finally {
    s.k.release(mark);
  }
  // A NaN or infinity anywhere in the gradient would poison every weight through Adam:
  // report it so the run stops at this step instead.
  if (injected === 'nan') views.slabs[task.slab][0] = NaN;
  let nonFinite = false;
  const slabs = task.microRows > 0 ? Math.ceil((task.end - task.start) / task.microRows) : 1;
  for (let j = 0; j < slabs && !nonFinite; j++) nonFinite = !allFinite(views.slabs[task.slab + j]);
  const tEnd = performance.now();
  return {
    nonFinite,
    lossSum,
    microLossSums,
    conditionSum,
    rows: task.end - task.start,
    threadId,
    weightsVersion,
    numTensors: heldBuffers(),
    timings: {
      prepMs: tReady - t0, computeMs: tEnd - tReady,
      readyAt: performance.timeOrigin + tReady, endedAt: performance.timeOrigin + tEnd,
    },
  };
}

/**
 * Waits until the coordinator has put step `step`'s batch indices in shared memory
 * (usually long done: it publishes them a step ahead). Returns false when the
 * coordinator asked the loops to stop instead.
 */
function waitForBatch(control: Int32Array, step: number): boolean {
  const deadline = performance.now() + WEIGHTS_TIMEOUT_MS;
  for (;;) {
    if (Atomics.load(control, CONTROL.stop) !== 0) return false;
    const v = Atomics.load(control, CONTROL.batchStep);
    if (v > step + 2) throw new Error(`the batch of step ${step} was replaced before this shard read it (batches published up to step ${v - 1})`);
    if (v >= step + 1) return true;
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`the batch of step ${step} was not published within ${WEIGHTS_TIMEOUT_MS} ms`);
    Atomics.wait(control, CONTROL.batchStep, v, left);
  }
}

/**
 * Steps [firstStep, lastStep) of one shard, with no message per step: the coordinator
 * publishes each step's batch and weights in shared memory, and this loop publishes
 * each step's result there (src/shared-memory.ts, writeResult) and marks it done.
 * The work of a step is exactly a gradient task's.
 */
function loop(s: State, task: LoopTask): LoopResult {
  const { control } = s.views;
  const { shard, slab, start, end, microRows } = task;
  let step = task.firstStep;
  try {
    for (; step < task.lastStep; step++) {
      if (!waitForBatch(control, step)) break;
      const weightsVersion = task.firstVersion + (step - task.firstStep);
      const attempt = step === task.firstStep ? task.attempt : 0;
      const r = gradient(s, { kind: TASK.gradient, step, weightsVersion, slab, start, end, microRows, shard, attempt });
      writeResult(s.views, shard, slab, r);
      Atomics.store(control, doneSlot(shard), step + 1);
      Atomics.notify(control, doneSlot(shard));
    }
  } catch (e) {
    if (e instanceof Stopped) return { steps: step - task.firstStep };
    // Wake the coordinator now rather than at its next time-out; the error itself
    // reaches it as this task's rejection.
    Atomics.store(control, failedSlot(shard), 1);
    Atomics.notify(control, doneSlot(shard));
    throw e;
  }
  return { steps: step - task.firstStep };
}

const PREDICT_CHUNK = 1000;

function predict(s: State, task: PredictTask): PredictResult {
  const { views, init } = s;
  const { inputSize } = init.model;
  const images = task.split === 'train' ? views.trainImages : views.testImages;
  const out = task.split === 'train' ? views.trainPredictions : views.testPredictions;
  const x = new Float32Array(PREDICT_CHUNK * inputSize);
  for (let start = task.start; start < task.end; start += PREDICT_CHUNK) {
    const rows = Math.min(PREDICT_CHUNK, task.end - start);
    for (let k = 0; k < rows * inputSize; k++) x[k] = images[start * inputSize + k] / 255;
    tf.tidy(() => {
      const w = weightTensors(views.weights, init.layout);
      const logits = forwardLogits(tf.tensor2d(x.subarray(0, rows * inputSize), [rows, inputSize]), w, init.model);
      out.set(tf.argMax(logits, 1).dataSync(), start);
    });
  }
  return { rows: task.end - task.start };
}

export default async function run(task: Task): Promise<GradientResult | LoopResult | PredictResult | PingResult> {
  const s = await (state ??= setup());
  switch (task.kind) {
    case TASK.gradient: return gradient(s, task);
    case TASK.loop: return loop(s, task);
    case TASK.predict: return predict(s, task);
    case TASK.ping: return { threadId, backend: tf.getBackend(), numTensors: heldBuffers(), setupMs: s.setupMs };
    default: throw new Error(`unknown task kind: ${JSON.stringify((task as { kind?: unknown }).kind)}`);
  }
}
