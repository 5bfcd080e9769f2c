// Owns every offset: the flat parameter layout and the SharedArrayBuffer regions
// that the coordinator and the workers share. No offset arithmetic lives elsewhere.
//
//   region        type            size                       written by            when
//   ------------  --------------  -------------------------  --------------------  ------------------------
//   trainImages   Uint8Array      count * inputSize          the IDX reader        once, at load
//   trainLabels   Uint8Array      count                      the IDX reader        once, at load
//   trainCond     Uint8Array      numTrain (0/1 condition)   coordinator           once, at load
//   testImages    Uint8Array      numTest * inputSize        the IDX reader        once, at load
//   testLabels    Uint8Array      numTest                    the IDX reader        once, at load
//   weights       Float32Array    numParams                  coordinator           between steps only
//   slabs         Float32Array    numSlabs * numParams       the task owning slab  during a step only
//   batch         Int32Array      2 * batchSize (two slots)  coordinator           a slot no shard still reads
//   predictions   Uint8Array      numTrain + numTest         task owning the rows  during evaluation only
//   results       Float64Array    numShards * RESULT_FIELDS  shard i's loop task   its record, during a step
//   slabLoss      Float64Array    numSlabs                   the task owning slab  during a step only
//   control       Int32Array      3 + 2 * numShards          see CONTROL below
//
// Images stay bytes (47 MB for MNIST instead of 188 MB as floats); workers scale
// the rows they read to [0, 1] while building their shard's input. The IDX reader
// decodes straight into SharedArrayBuffers (`sharedBytes`), so the dataset is held
// once, not as a file buffer plus a shared copy. With --limit, the first numTrain
// rows (numTrain = trainCond's length) are the training set.
import type { GradientResult } from './protocol.js';
import type { ShardTask } from './shards.js';
import { slabCount } from './shards.js';

/**
 * The control words, all Int32 and accessed with Atomics:
 *   weightsVersion  coordinator: the weights in `weights` are those of this version
 *   batchStep       coordinator: the batches of every step below batchStep are published;
 *                   step s's indices are in slot s % 2 of `batch` (batchSlot), so the
 *                   coordinator publishes step s+2's while shards read step s+1's
 *   stop            coordinator: 1 = step loops must return at their next wait
 *   done(i)         shard i's loop task: it has finished step (done - 1), result written
 *   failed(i)       shard i's loop task: 1 = it threw; the coordinator learns why from Piscina
 */
export const CONTROL = { weightsVersion: 0, batchStep: 1, stop: 2 } as const;
export const doneSlot = (shard: number): number => 3 + 2 * shard;
export const failedSlot = (shard: number): number => 4 + 2 * shard;
const controlSlots = (numShards: number) => 3 + 2 * numShards;

/** One shard's result record in `results` (what a GradientResult carries, as float64s). */
export const RESULT = {
  lossSum: 0, conditionSum: 1, nonFinite: 2, rows: 3, threadId: 4, weightsVersion: 5, numTensors: 6,
  prepMs: 7, computeMs: 8, readyAt: 9, endedAt: 10,
} as const;
export const RESULT_FIELDS = 11;

export type Activation = 'relu' | 'tanh' | 'sigmoid' | 'linear';

export interface ModelSpec {
  inputSize: number;
  hidden: { units: number; activation: Activation }[];
  numClasses: number;
}

export interface ParamSpec {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

export interface ParamLayout {
  params: ParamSpec[];
  numParams: number;
}

/** The ordered, named parameter layout: kernel then bias of every dense layer, Keras names. */
export function paramLayout(model: ModelSpec): ParamLayout {
  const params: ParamSpec[] = [];
  let offset = 0;
  const sizes = [model.inputSize, ...model.hidden.map((h) => h.units), model.numClasses];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const prefix = l === 0 ? 'dense' : `dense_${l}`;
    for (const [suffix, shape] of [['kernel', [sizes[l], sizes[l + 1]]], ['bias', [sizes[l + 1]]]] as const) {
      const size = shape.reduce((a, b) => a * b, 1);
      params.push({ name: `${prefix}/${suffix}`, shape: [...shape], offset, size });
      offset += size;
    }
  }
  return { params, numParams: offset };
}

/** Throws if two layouts differ: workers call it at start-up against the coordinator's. */
export function assertSameLayout(expected: ParamLayout, actual: ParamLayout): void {
  const a = JSON.stringify(expected);
  const b = JSON.stringify(actual);
  if (a !== b) throw new Error(`parameter layout mismatch: coordinator ${a}, worker ${b}`);
}

export interface SharedBuffers {
  trainImages: SharedArrayBuffer;
  trainLabels: SharedArrayBuffer;
  trainCond: SharedArrayBuffer;
  testImages: SharedArrayBuffer;
  testLabels: SharedArrayBuffer;
  weights: SharedArrayBuffer;
  slabs: SharedArrayBuffer;
  batch: SharedArrayBuffer;
  predictions: SharedArrayBuffer;
  results: SharedArrayBuffer;
  slabLoss: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

/** Bytes in a SharedArrayBuffer of their own: `bytes` itself when it already is one. */
export function sharedBytes(bytes: Uint8Array): SharedArrayBuffer {
  if (bytes.buffer instanceof SharedArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes.buffer;
  const sab = new SharedArrayBuffer(bytes.byteLength);
  new Uint8Array(sab).set(bytes);
  return sab;
}

/** The dataset's regions, already in shared memory (see `sharedBytes`). */
export interface SharedDataset {
  trainImages: SharedArrayBuffer;
  trainLabels: SharedArrayBuffer;
  testImages: SharedArrayBuffer;
  testLabels: SharedArrayBuffer;
}

export interface SharedSizes {
  numTrain: number;
  numParams: number;
  /** One per worker, or one per micro-shard in deterministic mode. */
  numSlabs: number;
  /** One per worker. */
  numShards: number;
  batchSize: number;
}

export function allocShared(data: SharedDataset, s: SharedSizes): SharedBuffers {
  return {
    ...data,
    trainCond: new SharedArrayBuffer(s.numTrain),
    weights: new SharedArrayBuffer(s.numParams * 4),
    slabs: new SharedArrayBuffer(s.numSlabs * s.numParams * 4),
    batch: new SharedArrayBuffer(2 * s.batchSize * 4),
    predictions: new SharedArrayBuffer(s.numTrain + data.testLabels.byteLength),
    results: new SharedArrayBuffer(s.numShards * RESULT_FIELDS * 8),
    slabLoss: new SharedArrayBuffer(s.numSlabs * 8),
    control: new SharedArrayBuffer(controlSlots(s.numShards) * 4),
  };
}

export interface SharedViews {
  trainImages: Uint8Array;
  trainLabels: Uint8Array;
  trainCond: Uint8Array;
  testImages: Uint8Array;
  testLabels: Uint8Array;
  weights: Float32Array;
  /** slabs[i] is the gradient-sum region of shard (or micro-shard) i. */
  slabs: Float32Array[];
  batch: Int32Array;
  /** predictions of the training rows, then of the test rows. */
  trainPredictions: Uint8Array;
  testPredictions: Uint8Array;
  /** results.subarray(i * RESULT_FIELDS, (i + 1) * RESULT_FIELDS) is shard i's record. */
  results: Float64Array;
  /** The loss sum of each slab's rows. */
  slabLoss: Float64Array;
  control: Int32Array;
}

export function viewsOf(b: SharedBuffers, numParams: number): SharedViews {
  const numSlabs = b.slabs.byteLength / (numParams * 4);
  const numTrain = b.trainCond.byteLength;
  const inputSize = b.trainImages.byteLength / b.trainLabels.byteLength;
  const slabs: Float32Array[] = [];
  for (let i = 0; i < numSlabs; i++) slabs.push(new Float32Array(b.slabs, i * numParams * 4, numParams));
  return {
    trainImages: new Uint8Array(b.trainImages, 0, numTrain * inputSize),
    trainLabels: new Uint8Array(b.trainLabels, 0, numTrain),
    trainCond: new Uint8Array(b.trainCond),
    testImages: new Uint8Array(b.testImages),
    testLabels: new Uint8Array(b.testLabels),
    weights: new Float32Array(b.weights),
    slabs,
    batch: new Int32Array(b.batch),
    trainPredictions: new Uint8Array(b.predictions, 0, numTrain),
    testPredictions: new Uint8Array(b.predictions, numTrain),
    results: new Float64Array(b.results),
    slabLoss: new Float64Array(b.slabLoss),
    control: new Int32Array(b.control),
  };
}

/** The batch indices of step `step`: slot step % 2 of the batch region. */
export function batchSlot(views: SharedViews, step: number): Int32Array {
  const size = views.batch.length / 2;
  return views.batch.subarray((step % 2) * size, (step % 2 + 1) * size);
}

/** A parameter's region of a flat weights or gradient array (a view, not a copy). */
export function paramView(flat: Float32Array, p: ParamSpec): Float32Array {
  return flat.subarray(p.offset, p.offset + p.size);
}

/**
 * Shard `shard`'s result into its record and its slabs' loss sums (worker side, before
 * it marks the step done). With micro-shards, slab j's loss is microLossSums[j].
 */
export function writeResult(views: SharedViews, shard: number, firstSlab: number, r: GradientResult): void {
  const rec = views.results.subarray(shard * RESULT_FIELDS, (shard + 1) * RESULT_FIELDS);
  rec[RESULT.lossSum] = r.lossSum;
  rec[RESULT.conditionSum] = r.conditionSum;
  rec[RESULT.nonFinite] = r.nonFinite ? 1 : 0;
  rec[RESULT.rows] = r.rows;
  rec[RESULT.threadId] = r.threadId;
  rec[RESULT.weightsVersion] = r.weightsVersion;
  rec[RESULT.numTensors] = r.numTensors;
  rec[RESULT.prepMs] = r.timings.prepMs;
  rec[RESULT.computeMs] = r.timings.computeMs;
  rec[RESULT.readyAt] = r.timings.readyAt;
  rec[RESULT.endedAt] = r.timings.endedAt;
  if (r.microLossSums) views.slabLoss.set(r.microLossSums, firstSlab);
  else views.slabLoss[firstSlab] = r.lossSum;
}

/** Shard `shard`'s result as the loop task wrote it (coordinator side, after it marked the step done). */
export function readResult(views: SharedViews, shard: number, task: ShardTask): GradientResult {
  const rec = views.results.subarray(shard * RESULT_FIELDS, (shard + 1) * RESULT_FIELDS);
  return {
    lossSum: rec[RESULT.lossSum],
    conditionSum: rec[RESULT.conditionSum],
    nonFinite: rec[RESULT.nonFinite] !== 0,
    rows: rec[RESULT.rows],
    threadId: rec[RESULT.threadId],
    weightsVersion: rec[RESULT.weightsVersion],
    numTensors: rec[RESULT.numTensors],
    microLossSums: task.microRows > 0 ? Array.from(views.slabLoss.subarray(task.slab, task.slab + slabCount(task))) : undefined,
    timings: { prepMs: rec[RESULT.prepMs], computeMs: rec[RESULT.computeMs], readyAt: rec[RESULT.readyAt], endedAt: rec[RESULT.endedAt] },
  };
}
