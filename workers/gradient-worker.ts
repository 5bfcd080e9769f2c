// The code that runs inside one Piscina worker thread. It exports one function and
// does not know the pool exists: a task comes in, results go into shared memory, a
// small summary goes back. One-time set-up (backend, views, buffers) is memoised.
import Piscina from 'piscina';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, logitsInto, shardLossAndGradient, weightInputs } from '../src/model/mlp.js';
import { heldBuffers, Kernels } from '../src/model/kernels.js';
import type { Info } from '../src/model/kernels.js';
import type { LoopResult, LoopTask, PingResult, PredictResult, PredictTask, Task, WorkerInit } from '../src/engine/protocol.js';
import { TASK } from '../src/engine/protocol.js';
import { batchSlot, viewsOf, writeResult } from '../src/engine/shared-memory.js';
import { assertSameLayout, paramLayout } from '../src/model/layout.js';
import type { ShardResult, SharedViews } from '../src/engine/shared-memory.js';
import { blockFor, Stopped, WorkerChannel } from '../src/engine/step-channel.js';
import { gatherRows, slabCount } from '../src/engine/shards.js';
import type { ShardBuffers } from '../src/engine/shards.js';
import { threadId } from 'node:worker_threads';
import { faultFor, parseFaults } from '../src/engine/faults.js';

interface State {
  setupMs: number;
  init: WorkerInit;
  views: SharedViews;
  buf: ShardBuffers;
  /** Runs the training step's kernels without the engine (src/model/kernels.ts). */
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

/** How long a loop waits for its batch or weights before giving up (the coordinator died). */
const WAIT_TIMEOUT_MS = 60_000;

/** One step of one shard: rows [start, end) of the step's batch, written from slab `slab` on. */
interface StepWork {
  step: number;
  weightsVersion: number;
  slab: number;
  start: number;
  end: number;
  microRows: number;
  shard: number;
  /** 0 on the first try; counts retries after a worker fault (used by fault injection). */
  attempt: number;
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
  return shardLossAndGradient(s.k, w, s.init.model, s.init.layout, rows, s.buf, slab);
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
  const micro = task.microRows > 0;
  // 1. Gather the shard's rows (in normal mode): needs only the dataset and the batch
  //    indices, not the weights, so it runs while the coordinator may still be
  //    updating them. Micro-shards are gathered one at a time below.
  let conditionSum = micro ? 0 : gather(s, task.step, task.start, task.end);
  // 2. Wait for this step's weights (the gather above overlaps the coordinator's Adam
  //    for the previous step). The version is read before the weights and the
  //    coordinator writes weights only before publishing a version, so a matching
  //    version proves these weights are the step's.
  const { weightsVersion } = task;
  channel.waitWeights(weightsVersion);
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
  const slabs = slabCount(task);
  for (let j = 0; j < slabs && !nonFinite; j++) nonFinite = !allFinite(views.slabs[task.slab + j]);
  const tEnd = performance.now();
  return { nonFinite, lossSum, microLossSums, conditionSum, weightsVersion, numTensors: heldBuffers(), computeMs: tEnd - tReady };
}

/**
 * Steps [firstStep, lastStep) of one shard, with no message per step: the coordinator
 * publishes each step's batch and weights in shared memory, and this loop publishes
 * each step's result there (writeResult) and marks it done (src/engine/step-channel.ts).
 */
function loop(s: State, task: LoopTask): LoopResult {
  const channel = new WorkerChannel(s.views.control, WAIT_TIMEOUT_MS);
  const { shard, slab, start, end, microRows } = task;
  let step = task.firstStep;
  try {
    for (; step < task.lastStep; step++) {
      channel.waitBatch(step);
      const weightsVersion = task.firstVersion + (step - task.firstStep);
      const attempt = step === task.firstStep ? task.attempt : 0;
      const r = gradient(s, channel, { step, weightsVersion, slab, start, end, microRows, shard, attempt });
      writeResult(s.views, shard, slab, r);
      channel.markDone(shard, step);
    }
  } catch (e) {
    if (e instanceof Stopped) return { steps: step - task.firstStep };
    channel.markFailed(shard);
    throw e;
  }
  return { steps: step - task.firstStep };
}

const PREDICT_CHUNK = 1000;

function predict(s: State, task: PredictTask): PredictResult {
  const { views, init, k } = s;
  const { inputSize, numClasses } = init.model;
  const images = task.split === 'train' ? views.trainImages : views.testImages;
  const out = task.split === 'train' ? views.trainPredictions : views.testPredictions;
  const x = new Float32Array(PREDICT_CHUNK * inputSize);
  const logits = new Float32Array(PREDICT_CHUNK * numClasses);
  const mark = k.mark();
  try {
    const w = weightInputs(k, views.weights, init.layout);
    for (let start = task.start; start < task.end; start += PREDICT_CHUNK) {
      const rows = Math.min(PREDICT_CHUNK, task.end - start);
      const from = images.subarray(start * inputSize, (start + rows) * inputSize);
      if (from instanceof Uint8Array) for (let i = 0; i < from.length; i++) x[i] = from[i] / 255;
      else x.set(from);
      logitsInto(k, w, init.model, rows, x, logits);
      // The predicted class: the first largest logit of the row (as tf.argMax).
      for (let r = 0; r < rows; r++) {
        let best = 0;
        for (let c = 1; c < numClasses; c++) if (logits[r * numClasses + c] > logits[r * numClasses + best]) best = c;
        out[start + r] = best;
      }
    }
  } finally {
    k.release(mark);
  }
  return { rows: task.end - task.start };
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
