// The step loop's worker half, beside its coordinator half (step-loops.ts): what a
// step-loop thread does with the tasks the coordinator sends (protocol.ts). A task comes
// in, results go into shared memory, a small summary goes back. The model's math is its
// path's (PathWorker, model-path.ts): this file never asks which path runs.
import * as tf from '@tensorflow/tfjs-core';
import { threadId } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
import { scaledRows } from '../data/pixels.js';
import { heldBuffers } from '../model/kernels.js';
import { applySlice, clipFactor, normaliserOf, reduceSlice, updateSlice } from '../optim/update.js';
import { learningRateAt } from '../optim/schedules.js';
import { collectGarbageEvery, faultFor, parseFaults } from './faults.js';
import type { PathWorker } from './model-path.js';
import { PREDICT_ROWS, TASK } from './protocol.js';
import type { LoopResult, LoopTask, PingResult, PredictResult, PredictTask, Task, WorkerInit } from './protocol.js';
import { batchSlot, optStateAt, recordSummary, weightsAt, writeResult, writeTiming } from './shared-memory.js';
import type { ShardResult, SharedViews } from './shared-memory.js';
import { blockFor, Stopped, WorkerChannel } from './step-channel.js';

/** One step-loop thread, set up once: its shared memory and its model path. */
export class StepWorker {
  /** The step whose rows are already gathered (while the loop waited at a barrier), and their weight sum; -1: none. */
  private readonly gathered = { step: -1, weightSum: 0 };
  private readonly faults = parseFaults(process.env.TRAINER_FAULTS);
  /** The clipped gradient of this thread's slice (--clip-norm). */
  private clipBuffer = new Float32Array(0);

  constructor(
    private readonly init: WorkerInit, private readonly views: SharedViews, private readonly path: PathWorker,
    /** How long this thread's one-time set-up (backend, views, model) took. */
    private readonly setupMs: number,
  ) {}

  run(task: Task): LoopResult | PredictResult | PingResult {
    switch (task.kind) {
      case TASK.loop: return this.loop(task);
      case TASK.predict: return this.predict(task);
      case TASK.ping: return { threadId, backend: tf.getBackend(), numTensors: heldBuffers(), setupMs: this.setupMs };
      default: throw new Error(`unknown task kind: ${JSON.stringify((task as { kind?: unknown }).kind)}`);
    }
  }

  /**
   * Steps [firstStep, lastStep) of one shard, with no message per step: the coordinator
   * publishes batches ahead in shared memory. Each step: the shard's gradient into its
   * slab and its result record (writeResult), then, once every shard's gradient is
   * written, the update of this shard's slice of the parameters (update), then done.
   * The loops of a step wait for each other (step-channel.ts), not for the coordinator.
   */
  private loop(task: LoopTask): LoopResult {
    const channel = new WorkerChannel(this.views.control, task.update.numShards, task.waitTimeoutMs);
    const { shard } = task;
    let step = task.firstStep;
    let stepStart = performance.now();
    this.gathered.step = -1;
    try {
      for (; step < task.lastStep; step++) {
        channel.waitBatch(step);
        const weightsVersion = task.firstVersion + (step - task.firstStep);
        const attempt = step === task.firstStep ? task.attempt : 0;
        // Restarted after it had arrived (it failed in its update): its gradient is written.
        if (!(attempt > 0 && channel.hasArrived(shard, step))) {
          const r = this.gradient(channel, task, step, weightsVersion, attempt);
          writeResult(this.views, shard, task.slab, step, r);
          channel.arrive(shard, step);
          this.gatherAhead(channel, task, step);
        }
        channel.waitArrived(step);
        const tUpdate = performance.now();
        const gradNorm = this.update(channel, task, step, attempt);
        if (gradNorm === false) return { steps: step - task.firstStep, halted: step };
        const now = performance.now();
        writeTiming(this.views, shard, step, { updateMs: now - tUpdate, stepMs: now - stepStart, endAt: performance.timeOrigin + now, gradNorm });
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

  /** The gradient phase of one step of a task: every part's loss sum and gradient into its own slab. */
  private gradient(channel: WorkerChannel, task: LoopTask, step: number, weightsVersion: number, attempt: number): ShardResult {
    const { views, path } = this;
    const injected = this.faults.length ? this.injectFault(step, task.shard, attempt) : null;
    // 1. Gather the task's rows (done already if the loop gathered them while it waited at
    //    the last barrier): needs only the dataset and the batch indices, not the weights,
    //    so it runs while other loops may still be updating their slices.
    let weightSum = this.gatherOnce(task, step);
    // 2. Wait until every loop has updated its slice of the previous step: the weights
    //    after `step` steps (slot step % 2) are whole. The version the result carries is
    //    the loop's count of weight updates since its start, which the coordinator checks
    //    against its own (a restart at the wrong step would be caught).
    channel.waitWeights(step);
    const tReady = performance.now();
    // 3. Forward, loss sum, backward, gradient into the slab: once per part, each into
    //    its own slab, on weights taken once per step.
    let lossSum = 0;
    // Several parts (or none: a thread with no rows) report each part's loss, so that the coordinator adds them in order.
    const microLossSums: number[] | undefined = task.parts.length === 1 ? undefined : [];
    try {
      path.useWeights(weightsAt(views, step));
      for (let j = 0; j < task.parts.length; j++) {
        const [start, end] = task.parts[j];
        const slab = views.slabs[task.slab + j];
        const r = end > start ? path.gradient({ step, start, rows: end - start, at: start - task.start }, slab) : (slab.fill(0), { lossSum: 0, weightSum: 0 });
        // The non-trainable weights (BatchNorm's moving statistics) after the batch's
        // first part: the run keeps those computed on its rows.
        if (task.shard === 0 && j === 0 && views.state.length > 0) path.readState(views.state);
        microLossSums?.push(r.lossSum);
        lossSum += r.lossSum;
        weightSum += r.weightSum;
      }
    } finally {
      path.release();
    }
    // A NaN or infinity anywhere in the gradient would poison every weight through the optimiser:
    // report it so the run stops at this step instead.
    if (injected === 'nan' && task.parts.length > 0) views.slabs[task.slab][0] = NaN;
    let nonFinite = false;
    for (let j = 0; j < task.parts.length && !nonFinite; j++) nonFinite = !allFinite(views.slabs[task.slab + j]);
    return { nonFinite, lossSum, microLossSums, weightSum, weightsVersion, numTensors: heldBuffers(), computeMs: performance.now() - tReady, ...memoryMB() };
  }

  /**
   * The update phase of `step` for this shard's slice: every shard's gradient is written.
   * A non-finite loss or gradient anywhere stops every loop here, before any weight
   * changes (each reads the same records); returns false then, else the reduced
   * gradient's global norm (with --clip-norm; NaN without).
   */
  private update(channel: WorkerChannel, task: LoopTask, step: number, attempt: number): number | false {
    const { views } = this;
    const u = task.update;
    let weightSum = 0;
    for (let j = 0; j < u.numShards; j++) {
      const r = recordSummary(views, j, step);
      if (!r.finite) return false;
      weightSum += r.weightSum; // in shard order, as the coordinator sums them
    }
    const normaliser = normaliserOf(u.normalize, u.batchSize, weightSum);
    const from = { w: weightsAt(views, step), s: optStateAt(views, step) };
    const to = u.apply ? { w: weightsAt(views, step + 1), s: optStateAt(views, step + 1) } : null;
    const t = u.optT + (step - task.firstStep) + 1;
    // The schedule's rate of this step: step t - 1 of the whole run, a resumed one included.
    const { config, schedule } = this.init.optimizer;
    const cfg = { ...config, lr: learningRateAt(schedule, t - 1) };
    let gradNorm = NaN;
    if (!to || u.clipNorm === null) {
      updateSlice(cfg, t, views.slabs, normaliser, u.sliceStart, u.sliceEnd, from, to, views.grad);
    } else {
      // --clip-norm: the factor needs the norm of the whole reduced gradient, so every
      // loop writes its slice, waits for the others', then computes the same factor.
      reduceSlice(views.slabs, normaliser, u.sliceStart, u.sliceEnd, views.grad);
      if (this.faults.length && faultFor(this.faults, step, task.shard, attempt) === 'hangupdate') blockFor(Infinity); // test-only
      channel.markReduced(task.shard, step);
      channel.waitReduced(step);
      const { norm, factor } = clipFactor(views.grad, u.clipNorm);
      gradNorm = norm;
      const g = views.grad.subarray(u.sliceStart, u.sliceEnd);
      // Scaled into this thread's own buffer: the others still read the shared gradient.
      applySlice(cfg, t, u.sliceStart, u.sliceEnd, from, to, factor === 1 ? g : this.scaled(g, factor));
    }
    // BatchNorm's moving statistics: the optimiser left them alone (their gradient is zero); they
    // take the values shard 0's step computed.
    if (to && views.state.length > 0) {
      for (const [a, b] of u.stateRanges) {
        const lo = Math.max(a, u.sliceStart);
        const hi = Math.min(b, u.sliceEnd);
        if (lo < hi) to.w.set(views.state.subarray(lo, hi), lo);
      }
    }
    return gradNorm;
  }

  /** `g` times `factor`, in a buffer of this thread's, kept across steps. */
  private scaled(g: Float32Array, factor: number): Float32Array {
    if (this.clipBuffer.length < g.length) this.clipBuffer = new Float32Array(g.length);
    const out = this.clipBuffer.subarray(0, g.length);
    for (let i = 0; i < g.length; i++) out[i] = g[i] * factor;
    return out;
  }

  /**
   * Gathers a task's rows of `step`'s batch, each part from its own row on, so that
   * every part's rows are in place before the weights are; returns their weight sum
   * when the path knows it from the labels.
   */
  private gatherTask(step: number, task: LoopTask): number {
    const indices = batchSlot(this.views, step);
    let weightSum = 0;
    for (const [start, end] of task.parts) weightSum += this.path.gather(indices, start, end, start - task.start);
    return weightSum;
  }

  /** A task's gather of its step, unless the loop did it already while it waited (gatherAhead). */
  private gatherOnce(task: LoopTask, step: number): number {
    if (this.gathered.step === step) {
      this.gathered.step = -1;
      return this.gathered.weightSum;
    }
    return this.gatherTask(step, task);
  }

  /**
   * At the barrier after its gradient, with some shard's gradient still to come, a loop
   * would only wait: it gathers the rows of its next step instead, if that batch is
   * published (the buffers are free: this step's gradient is written). A loop that
   * arrives last goes straight to its update and gathers at the next step as before.
   */
  private gatherAhead(channel: WorkerChannel, task: LoopTask, step: number): void {
    const next = step + 1;
    if (next >= task.lastStep || !channel.published(next) || channel.allArrived(step)) return;
    this.gathered.weightSum = this.gatherTask(next, task);
    this.gathered.step = next;
  }

  /** Test-only: misbehave as TRAINER_FAULTS asks (see faults.ts). */
  private injectFault(step: number, shard: number, attempt: number): 'nan' | null {
    const kind = faultFor(this.faults, step, shard, attempt);
    if (kind === 'throw') throw new Error(`injected fault: throw at step ${step}, shard ${shard}`);
    if (kind === 'exit') process.exit(3);
    if (kind === 'hang') blockFor(Infinity);
    return kind === 'nan' ? 'nan' : null;
  }

  /** The evaluation of rows [start, end) of a split: predicted classes into the shared predictions, loss and weight sums back. */
  private predict(task: PredictTask): PredictResult {
    const { views, init, path } = this;
    const train = task.split === 'train';
    const images = train ? views.trainImages : views.testImages;
    const classes = train ? views.trainPredictions : views.testPredictions;
    const y = train ? views.trainY : views.testY;
    const x = new Float32Array(PREDICT_ROWS * init.inputSize);
    let lossSum = 0;
    let weightSum = 0;
    let metricSums: number[] = [];
    let metricWeight = 0;
    try {
      path.useWeights(weightsAt(views, task.steps));
      for (let start = task.start; start < task.end; start += PREDICT_ROWS) {
        const rows = Math.min(PREDICT_ROWS, task.end - start);
        scaledRows(images, start, rows, init.inputSize, x);
        const r = path.predict(rows, x, y.subarray(start * init.labelWidth), classes.subarray(start, start + rows));
        lossSum += r.lossSum;
        weightSum += r.weightSum;
        metricSums = r.metricSums.map((m, i) => m + (metricSums[i] ?? 0));
        metricWeight += r.metricWeight;
      }
    } finally {
      path.release();
    }
    return { rows: task.end - task.start, lossSum, weightSum, metricSums, metricWeight };
  }
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
