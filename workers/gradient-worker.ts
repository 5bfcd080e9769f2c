// The code that runs inside one Piscina worker thread. It exports one function and
// does not know the pool exists: a task comes in, results go into shared memory, a
// small summary goes back. One-time set-up (backend, views, buffers) is memoised.
import Piscina from 'piscina';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, logitsInto, shardLossAndGradient, weightInputs } from '../src/model/mlp.js';
import { heldBuffers, Kernels } from '../src/model/kernels.js';
import type { Info } from '../src/model/kernels.js';
import type { LoopResult, LoopTask, PingResult, PredictResult, PredictTask, Task, WorkerInit } from '../src/engine/protocol.js';
import { TASK, TASK_FAULT } from '../src/engine/protocol.js';
import { batchSlot, recordSummary, viewsOf, weightsAt, writeResult, writeTiming } from '../src/engine/shared-memory.js';
import { ADAM_DEFAULTS, normaliserOf, updateSlice } from '../src/optim/adam.js';
import { argmaxRows } from '../src/model/labels.js';
import { assertSameLayout, paramLayout } from '../src/model/layout.js';
import type { ShardResult, SharedViews } from '../src/engine/shared-memory.js';
import { blockFor, Stopped, WorkerChannel } from '../src/engine/step-channel.js';
import { gatherRows, gatherTaskRows, scaledRows } from '../src/engine/shards.js';
import { GeneralModel, TaskRuntimeError } from '../src/model/general.js';
import { importTask, withSeededRandom } from '../src/task/load.js';
import type { ShardBuffers } from '../src/engine/shards.js';
import { threadId } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
import { collectGarbageEvery, faultFor, parseFaults } from '../src/engine/faults.js';

interface State {
  setupMs: number;
  init: WorkerInit;
  views: SharedViews;
  buf: ShardBuffers;
  /** Runs the training step's kernels without the engine (src/model/kernels.ts). */
  k: Kernels;
  /** The general path's model (engine 'general'), else null. */
  general: GeneralModel | null;
  /** Views of `buf` from a part's first row on, by that row's offset in the task (buffersAt). */
  partBuffers: Map<number, ShardBuffers>;
  /** The step whose rows are already in `buf` (gathered while the loop waited at a barrier), and their condition count; -1: none. */
  gathered: { step: number; weightSum: number };
}

let state: Promise<State> | undefined;

async function setup(): Promise<State> {
  const t0 = performance.now();
  const init = Piscina.workerData as WorkerInit | undefined;
  if (!init || typeof init !== 'object' || !init.buffers || !init.model || !init.layout) {
    throw new Error('gradient worker started without its WorkerInit in workerData');
  }
  // The worker recomputes the layout (from the model spec, or from the model it rebuilt)
  // and refuses to run if it differs from the coordinator's: a silent mismatch would
  // train garbage.
  if (!init.general) assertSameLayout(init.layout, paramLayout(init.model));
  await initBackend(init.backend);
  const views = viewsOf(init.buffers, init.layout.numParams);
  const maxRows = batchSlot(views, 0).length;
  const { inputSize, numClasses } = init.model;
  const g = init.general;
  const general = g !== undefined;
  const buf: ShardBuffers = {
    x: new Float32Array(maxRows * inputSize),
    xT: new Float32Array(general ? 0 : maxRows * inputSize),
    label: new Float32Array(maxRows * (g ? g.labelWidth : numClasses + 1)),
  };
  const s: State = { init, views, buf, k: new Kernels(), general: null, setupMs: 0, partBuffers: new Map(), gathered: { step: -1, weightSum: 0 } };
  if (g) {
    const task = await importTask(g.task, g.mask);
    s.general = await GeneralModel.create(g.topology, init.layout, task, g.weighted);
    // One step on the first training row before the start-up ping counts this thread's
    // tensors: what TF.js creates once and keeps (cached constants) is in the baseline.
    gatherTaskRows(views.trainImages, views.trainY, Int32Array.of(0), 0, 1, inputSize, g.labelWidth, buf.x, buf.label);
    s.general.setWeights(views.weights);
    try {
      s.general.gradient(1, buf.x, buf.label, new Float32Array(init.layout.numParams));
    } catch (e) {
      const missing = s.general.explainMissingKernel(e);
      throw missing ? new Error(missing) : e;
    }
  }
  s.setupMs = performance.now() - t0;
  return s;
}

/** One step of one task: rows [start, end) of the step's batch in its parts, written from slab `slab` on. */
interface StepWork {
  step: number;
  weightsVersion: number;
  slab: number;
  start: number;
  end: number;
  parts: [number, number][];
  shard: number;
  /** 0 on the first try; counts retries after a worker fault (used by fault injection). */
  attempt: number;
}

/**
 * One part of a task: `rows` rows of the batch, already gathered into the buffers from
 * row `at` on (gatherTask), with the step's weight tensors `w`. Writes the gradient SUM
 * into `slab`; returns the loss sum.
 */
function shardGradient(s: State, rows: number, at: number, w: Info[], slab: Float32Array): number {
  if (rows === 0) {
    slab.fill(0);
    return 0;
  }
  return shardLossAndGradient(s.k, w, s.init.model, s.init.layout, rows, buffersAt(s, at), slab);
}

/**
 * The general path's shard: the task's loss sum and gradient by TF.js autodiff, with
 * Math.random seeded from (--seed, step, first row): Dropout draws the same masks in
 * every run, and in deterministic mode whatever the worker count.
 */
function taskGradient(s: State, task: StepWork, start: number, end: number, slab: Float32Array): { lossSum: number; weightSum: number } {
  if (end === start) {
    slab.fill(0);
    return { lossSum: 0, weightSum: 0 };
  }
  const seed = (s.init.general!.seed ^ Math.imul(task.step + 1, 0x9e3779b1) ^ Math.imul(start + 1, 0x85ebca77)) >>> 0;
  const { x, label } = buffersAt(s, start - task.start);
  try {
    return withSeededRandom(seed, () => s.general!.gradient(end - start, x, label, slab));
  } catch (e) {
    // Marked so that the coordinator does not retry it: the same rows would fail again.
    if (e instanceof TaskRuntimeError) throw new TaskRuntimeError(`${TASK_FAULT}${e.message}`);
    throw e;
  }
}

/** The general path's step of one task: like `gradient` below, through the task's model. */
function generalGradient(s: State, channel: WorkerChannel, task: StepWork, injected: 'nan' | null): ShardResult {
  const { views } = s;
  const micro = task.parts.length !== 1;
  gatherOnce(s, task);
  channel.waitWeights(task.step);
  const tReady = performance.now();
  s.general!.setWeights(weightsAt(views, task.step));
  let lossSum = 0;
  let weightSum = 0;
  // Several parts (or none: a thread with no rows) report each part's loss, as on the fast path.
  const microLossSums: number[] | undefined = micro ? [] : undefined;
  // Each part into its own slab.
  for (let j = 0; j < task.parts.length; j++) {
    const [start, end] = task.parts[j];
    const r = taskGradient(s, task, start, end, views.slabs[task.slab + j]);
    // The non-trainable weights (BatchNorm's moving statistics) after the batch's first
    // part: the run keeps those computed on its rows.
    if (task.shard === 0 && j === 0 && views.state.length > 0) s.general!.readState(views.state);
    microLossSums?.push(r.lossSum);
    lossSum += r.lossSum;
    weightSum += r.weightSum;
  }
  if (injected === 'nan' && task.parts.length > 0) views.slabs[task.slab][0] = NaN;
  let nonFinite = false;
  for (let j = 0; j < task.parts.length && !nonFinite; j++) nonFinite = !allFinite(views.slabs[task.slab + j]);
  return { nonFinite, lossSum, microLossSums, weightSum, weightsVersion: task.weightsVersion, numTensors: heldBuffers(), computeMs: performance.now() - tReady, ...memoryMB() };
}

/** This thread's V8 heap in use (about 1 us to read) and its wasm memory, MB. */
function memoryMB(): { heapMB: number; wasmMB: number } {
  collectGarbageEvery();
  const wasm = (tf.engine().backend as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm;
  return { heapMB: getHeapStatistics().used_heap_size / 2 ** 20, wasmMB: (wasm?.HEAPU8?.byteLength ?? 0) / 2 ** 20 };
}

function allFinite(a: Float32Array): boolean {
  // x * 0 is 0 for finite x and NaN for NaN or +-Infinity: one multiply-add per value.
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc += a[i] * 0;
  return acc === 0;
}

/**
 * The shard buffers from row `at` on: where a part's rows are gathered and read (its own
 * xT block too). Made once per offset (a step asks for each of its parts twice).
 */
function buffersAt(s: State, at: number): ShardBuffers {
  let views = s.partBuffers.get(at);
  if (!views) {
    const { buf, init } = s;
    const width = init.general ? init.general.labelWidth : init.model.numClasses + 1;
    const offset = at * init.model.inputSize;
    views = { x: buf.x.subarray(offset), xT: buf.xT.subarray(offset), label: buf.label.subarray(at * width) };
    s.partBuffers.set(at, views);
  }
  return views;
}

/**
 * Gathers a task's rows of `step`'s batch into the shard buffers, each part from its own
 * row on, so that every part's rows are in place before the weights are; returns their
 * condition count (fast path; 0 on the general path).
 */
function gatherTask(s: State, step: number, task: { start: number; parts: [number, number][] }): number {
  const { views, init } = s;
  const indices = batchSlot(views, step);
  let weightSum = 0;
  for (const [start, end] of task.parts) {
    const out = buffersAt(s, start - task.start);
    if (init.general) gatherTaskRows(views.trainImages, views.trainY, indices, start, end, init.model.inputSize, init.general.labelWidth, out.x, out.label);
    else weightSum += gatherRows(views.trainImages, views.trainLabels, views.trainCond, indices, start, end, init.model.inputSize, init.model.numClasses, out);
  }
  return weightSum;
}

/** A task's gather of its step, unless the loop did it already while it waited (gatherAhead). */
function gatherOnce(s: State, task: StepWork): number {
  if (s.gathered.step === task.step) {
    s.gathered.step = -1;
    return s.gathered.weightSum;
  }
  return gatherTask(s, task.step, task);
}

/**
 * At the barrier after its gradient, with some shard's gradient still to come, a loop
 * would only wait: it gathers the rows of its next step instead, if that batch is
 * published (the buffers are free: this step's gradient is written). A loop that
 * arrives last goes straight to its update and gathers at the next step as before.
 */
function gatherAhead(s: State, channel: WorkerChannel, task: LoopTask, step: number): void {
  const next = step + 1;
  if (next >= task.lastStep || !channel.published(next) || channel.allArrived(step)) return;
  s.gathered.weightSum = gatherTask(s, next, task);
  s.gathered.step = next;
}

const faults = parseFaults(process.env.TRAINER_FAULTS);

/** Test-only: misbehave as TRAINER_FAULTS asks (see src/engine/faults.ts). */
function injectFault(task: StepWork): 'nan' | null {
  const kind = faultFor(faults, task.step, task.shard, task.attempt);
  if (kind === 'throw') throw new Error(`injected fault: throw at step ${task.step}, shard ${task.shard}`);
  if (kind === 'exit') process.exit(3);
  if (kind === 'hang') blockFor(Infinity);
  return kind === 'nan' ? 'nan' : null;
}

function gradient(s: State, channel: WorkerChannel, task: StepWork): ShardResult {
  const { views } = s;
  const injected = faults.length ? injectFault(task) : null;
  if (s.general) return generalGradient(s, channel, task, injected);
  // 1. Gather the task's rows (done already if the loop gathered them while it waited at
  //    the last barrier): needs only the dataset and the batch indices, not the weights,
  //    so it runs while other loops may still be updating their slices.
  const weightSum = gatherOnce(s, task);
  // 2. Wait until every loop has updated its slice of the previous step: the weights
  //    after `step` steps (slot step % 2) are whole. The version the result carries is
  //    the loop's count of weight updates since its start, which the coordinator checks
  //    against its own (a restart at the wrong step would be caught).
  const { weightsVersion } = task;
  channel.waitWeights(task.step);
  const tReady = performance.now();
  // 3. Forward, masked loss sum, backward, gradient into the slab: once per part, each
  //    into its own slab. The weights are copied into tensors once per task: the parts
  //    share them (and XNNPACK packs the first layer's kernel once instead of per part).
  let lossSum = 0;
  let microLossSums: number[] | undefined;
  const mark = s.k.mark();
  const w = weightInputs(s.k, weightsAt(views, task.step), s.init.layout);
  try {
    if (task.parts.length === 1) {
      lossSum = shardGradient(s, task.end - task.start, 0, w, views.slabs[task.slab]);
    } else {
      microLossSums = [];
      for (let j = 0; j < task.parts.length; j++) {
        const [start, end] = task.parts[j];
        const l = shardGradient(s, end - start, start - task.start, w, views.slabs[task.slab + j]);
        microLossSums.push(l);
        lossSum += l;
      }
    }
  } finally {
    s.k.release(mark);
  }
  // A NaN or infinity anywhere in the gradient would poison every weight through Adam:
  // report it so the run stops at this step instead.
  if (injected === 'nan' && task.parts.length > 0) views.slabs[task.slab][0] = NaN;
  let nonFinite = false;
  for (let j = 0; j < task.parts.length && !nonFinite; j++) nonFinite = !allFinite(views.slabs[task.slab + j]);
  const tEnd = performance.now();
  return { nonFinite, lossSum, microLossSums, weightSum, weightsVersion, numTensors: heldBuffers(), computeMs: tEnd - tReady, ...memoryMB() };
}

/**
 * Steps [firstStep, lastStep) of one shard, with no message per step: the coordinator
 * publishes batches ahead in shared memory. Each step: the shard's gradient into its
 * slab and its result record (writeResult), then, once every shard's gradient is
 * written, the update of this shard's slice of the parameters (update), then done.
 * The loops of a step wait for each other (src/engine/step-channel.ts), not for the
 * coordinator.
 */
function loop(s: State, task: LoopTask): LoopResult {
  const channel = new WorkerChannel(s.views.control, task.update.numShards, task.waitTimeoutMs);
  const { shard, slab, start, end, parts } = task;
  let step = task.firstStep;
  let stepStart = performance.now();
  s.gathered.step = -1;
  try {
    for (; step < task.lastStep; step++) {
      channel.waitBatch(step);
      const weightsVersion = task.firstVersion + (step - task.firstStep);
      const attempt = step === task.firstStep ? task.attempt : 0;
      // Restarted after it had arrived (it failed in its update): its gradient is written.
      if (!(attempt > 0 && channel.hasArrived(shard, step))) {
        const r = gradient(s, channel, { step, weightsVersion, slab, start, end, parts, shard, attempt });
        writeResult(s.views, shard, slab, step, r);
        channel.arrive(shard, step);
        gatherAhead(s, channel, task, step);
      }
      channel.waitArrived(step);
      const tUpdate = performance.now();
      if (!update(s, task, step)) return { steps: step - task.firstStep, halted: step };
      const now = performance.now();
      writeTiming(s.views, shard, step, { updateMs: now - tUpdate, stepMs: now - stepStart, endAt: performance.timeOrigin + now });
      stepStart = now;
      channel.markDone(shard, step);
    }
  } catch (e) {
    if (e instanceof Stopped) return { steps: step - task.firstStep };
    channel.markFailed(shard);
    throw e;
  }
  return { steps: step - task.firstStep };
}

/**
 * The update phase of `step` for this shard's slice: every shard's gradient is written.
 * A non-finite loss or gradient anywhere stops every loop here, before any weight
 * changes (each reads the same records); returns false then.
 */
function update(s: State, task: LoopTask, step: number): boolean {
  const { views } = s;
  const u = task.update;
  let weightSum = 0;
  for (let j = 0; j < u.numShards; j++) {
    const r = recordSummary(views, j, step);
    if (!r.finite) return false;
    weightSum += r.weightSum; // in shard order, as the coordinator sums them
  }
  const normaliser = normaliserOf(u.normalize, u.batchSize, weightSum);
  const from = { w: weightsAt(views, step), m: views.adamM[step % 2], v: views.adamV[step % 2] };
  const to = u.apply ? { w: weightsAt(views, step + 1), m: views.adamM[(step + 1) % 2], v: views.adamV[(step + 1) % 2] } : null;
  const t = u.adamT + (step - task.firstStep) + 1;
  updateSlice(s.init.adam ?? ADAM_DEFAULTS, t, views.slabs, normaliser, u.sliceStart, u.sliceEnd, from, to, views.grad);
  // BatchNorm's moving statistics: Adam left them alone (their gradient is zero); they
  // take the values shard 0's step computed.
  if (to && views.state.length > 0) {
    for (const [a, b] of u.stateRanges) {
      const lo = Math.max(a, u.sliceStart);
      const hi = Math.min(b, u.sliceEnd);
      if (lo < hi) to.w.set(views.state.subarray(lo, hi), lo);
    }
  }
  return true;
}

const PREDICT_CHUNK = 1000;

function predict(s: State, task: PredictTask): PredictResult {
  if (s.general) return generalPredict(s, task);
  const { views, init, k } = s;
  const { inputSize, numClasses } = init.model;
  const images = task.split === 'train' ? views.trainImages : views.testImages;
  const out = task.split === 'train' ? views.trainPredictions : views.testPredictions;
  const x = new Float32Array(PREDICT_CHUNK * inputSize);
  const logits = new Float32Array(PREDICT_CHUNK * numClasses);
  const mark = k.mark();
  try {
    const w = weightInputs(k, weightsAt(views, task.steps), init.layout);
    for (let start = task.start; start < task.end; start += PREDICT_CHUNK) {
      const rows = Math.min(PREDICT_CHUNK, task.end - start);
      scaledRows(images, start, rows, inputSize, x);
      logitsInto(k, w, init.model, rows, x, logits);
      argmaxRows(logits, numClasses, out.subarray(start, start + rows));
    }
  } finally {
    k.release(mark);
  }
  return { rows: task.end - task.start, lossSum: 0, weightSum: 0 };
}

/** The general path's evaluation: the task model's classes, and loss and weight sums, of rows [start, end). */
function generalPredict(s: State, task: PredictTask): PredictResult {
  const { views, init } = s;
  const { inputSize, numClasses } = init.model;
  const train = task.split === 'train';
  const images = train ? views.trainImages : views.testImages;
  const out = train ? views.trainPredictions : views.testPredictions;
  const y = train ? views.trainY : views.testY;
  const x = new Float32Array(PREDICT_CHUNK * inputSize);
  let lossSum = 0;
  let weightSum = 0;
  s.general!.setWeights(weightsAt(views, task.steps));
  for (let start = task.start; start < task.end; start += PREDICT_CHUNK) {
    const rows = Math.min(PREDICT_CHUNK, task.end - start);
    scaledRows(images, start, rows, inputSize, x);
    const r = s.general!.predict(rows, x, y.subarray(start * init.general!.labelWidth), numClasses, out.subarray(start, start + rows));
    lossSum += r.lossSum;
    weightSum += r.weightSum;
  }
  return { rows: task.end - task.start, lossSum, weightSum };
}

export default async function run(task: Task): Promise<LoopResult | PredictResult | PingResult> {
  const s = await (state ??= setup());
  switch (task.kind) {
    case TASK.loop: return loop(s, task);
    case TASK.predict: return predict(s, task);
    case TASK.ping: return { threadId, backend: tf.getBackend(), numTensors: heldBuffers(), setupMs: s.setupMs };
    default: throw new Error(`unknown task kind: ${JSON.stringify((task as { kind?: unknown }).kind)}`);
  }
}
