// Owns the SharedArrayBuffer regions that the coordinator and the workers share and
// the shard result record in them (the parameter layout is src/model/layout.ts; the
// control words are src/engine/step-channel.ts).
//
//   region        type            size                       written by            when
//   ------------  --------------  -------------------------  --------------------  ------------------------
//   trainImages   Uint8Array or   count * inputSize          the data reader       once, at load
//                 Float32Array
//   trainLabels   Uint8Array      count                      the IDX reader        once, at load
//   trainCond     Uint8Array      numTrain (0/1 condition)   coordinator           once, at load
//   trainY        Float32Array    numTrain * labelWidth      coordinator           once, at load (general path)
//   testY         Float32Array    numTest * labelWidth       coordinator           once, at load (general path)
//   testImages    as trainImages  numTest * inputSize        the data reader       once, at load
//   testLabels    Uint8Array      numTest                    the IDX reader        once, at load
//   weights       Float32Array    numParams                  coordinator           between steps only
//   slabs         Float32Array    numSlabs * numParams       the task owning slab  during a step only
//   state         Float32Array    numParams, or 0 without    shard 0's loop task   during a step only
//                                 non-trainable weights      (BatchNorm's moving statistics after its step)
//   batch         Int32Array      2 * batchSize (two slots)  coordinator           a slot no shard still reads
//   predictions   Uint8Array      numTrain + numTest         task owning the rows  during evaluation only
//   results       Float64Array    numShards * RESULT_FIELDS  shard i's loop task   its record, during a step
//   slabLoss      Float64Array    numSlabs                   the task owning slab  during a step only
//   control       Int32Array      3 + 2 * numShards          see step-channel.ts
//
// Byte images stay bytes (47 MB for MNIST instead of 188 MB as floats); workers scale
// the rows they read to [0, 1] while building their shard's input. Float32 images
// (given to train() as typed arrays) are used as they are. The IDX reader
// decodes straight into SharedArrayBuffers (`sharedBytes`), so the dataset is held
// once, not as a file buffer plus a shared copy. With --limit, the first numTrain
// rows (numTrain = trainCond's length) are the training set.
import type { ShardTask } from './shards.js';
import { slabCount } from './shards.js';
import { controlWords } from './step-channel.js';

/**
 * One shard's result for one step, as its loop writes it (writeResult) and the
 * coordinator reads it back (readResult).
 */
export interface ShardResult {
  lossSum: number;
  /** True when a gradient value written to a slab is NaN or infinite. */
  nonFinite: boolean;
  /** With micro-shards: each micro-shard's loss sum, so the coordinator adds them in order. */
  microLossSums?: number[];
  /** The sum of the shard's sample weights (the built-in task: its rows whose condition is 1). */
  weightSum: number;
  /** The weights version the worker read from shared memory, checked by the coordinator. */
  weightsVersion: number;
  /** Buffers held after the step: must equal the count at start-up (no leaks). */
  numTensors: number;
  /** Weights in, forward, backward, gradients into the slab(s). */
  computeMs: number;
}

/** Shard i's record in `results`: a ShardResult as float64s (micro-shard losses are in slabLoss). */
const RESULT = { lossSum: 0, weightSum: 1, nonFinite: 2, weightsVersion: 3, numTensors: 4, computeMs: 5 } as const;
const RESULT_FIELDS = 6;

/** Pixels as the data came: bytes (scaled by 1/255 when read) or float32 (used as they are). */
export type Images = Uint8Array | Float32Array;

export interface SharedBuffers {
  /** True when the image regions hold float32 values, false for bytes. */
  floatImages: boolean;
  trainImages: SharedArrayBuffer;
  trainLabels: SharedArrayBuffer;
  trainCond: SharedArrayBuffer;
  trainY: SharedArrayBuffer;
  testImages: SharedArrayBuffer;
  testLabels: SharedArrayBuffer;
  testY: SharedArrayBuffer;
  weights: SharedArrayBuffer;
  slabs: SharedArrayBuffer;
  state: SharedArrayBuffer;
  batch: SharedArrayBuffer;
  predictions: SharedArrayBuffer;
  results: SharedArrayBuffer;
  slabLoss: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

/** A typed array's values in a SharedArrayBuffer of their own: its own buffer when it already is one. */
export function sharedBytes(a: Uint8Array | Float32Array): SharedArrayBuffer {
  if (a.buffer instanceof SharedArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength) return a.buffer;
  const sab = new SharedArrayBuffer(a.byteLength);
  new Uint8Array(sab).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return sab;
}

/** The dataset's regions, already in shared memory (see `sharedBytes`). */
export interface SharedDataset {
  floatImages: boolean;
  trainImages: SharedArrayBuffer;
  trainLabels: SharedArrayBuffer;
  testImages: SharedArrayBuffer;
  testLabels: SharedArrayBuffer;
  /** The combined-label rows when already built (general path), else allocated here. */
  trainY?: SharedArrayBuffer;
  testY?: SharedArrayBuffer;
}

export interface SharedSizes {
  numTrain: number;
  numParams: number;
  /** One per worker, or one per micro-shard in deterministic mode. */
  numSlabs: number;
  /** One per worker. */
  numShards: number;
  batchSize: number;
  /** Columns of a combined-label row in trainY/testY; 0 on the fast path (it builds labels as it gathers). */
  labelWidth: number;
  /** The model has non-trainable weights (BatchNorm's moving statistics). */
  hasState: boolean;
}

export function allocShared(data: SharedDataset, s: SharedSizes): SharedBuffers {
  return {
    ...data,
    trainCond: new SharedArrayBuffer(s.numTrain),
    trainY: data.trainY ?? new SharedArrayBuffer(s.numTrain * s.labelWidth * 4),
    testY: data.testY ?? new SharedArrayBuffer(data.testLabels.byteLength * s.labelWidth * 4),
    weights: new SharedArrayBuffer(s.numParams * 4),
    slabs: new SharedArrayBuffer(s.numSlabs * s.numParams * 4),
    state: new SharedArrayBuffer(s.hasState ? s.numParams * 4 : 0),
    batch: new SharedArrayBuffer(2 * s.batchSize * 4),
    predictions: new SharedArrayBuffer(s.numTrain + data.testLabels.byteLength),
    results: new SharedArrayBuffer(s.numShards * RESULT_FIELDS * 8),
    slabLoss: new SharedArrayBuffer(s.numSlabs * 8),
    control: new SharedArrayBuffer(controlWords(s.numShards) * 4),
  };
}

export interface SharedViews {
  trainImages: Images;
  trainLabels: Uint8Array;
  trainCond: Uint8Array;
  /** Combined-label rows, labelWidth floats each (general path). */
  trainY: Float32Array;
  testImages: Images;
  testLabels: Uint8Array;
  testY: Float32Array;
  weights: Float32Array;
  /** The non-trainable weights after shard 0's step, at their layout offsets. */
  state: Float32Array;
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
  const bytesPerValue = b.floatImages ? 4 : 1;
  const inputSize = b.trainImages.byteLength / bytesPerValue / b.trainLabels.byteLength;
  const images = (sab: SharedArrayBuffer, count: number): Images => (b.floatImages ? new Float32Array(sab, 0, count) : new Uint8Array(sab, 0, count));
  const slabs: Float32Array[] = [];
  for (let i = 0; i < numSlabs; i++) slabs.push(new Float32Array(b.slabs, i * numParams * 4, numParams));
  return {
    trainImages: images(b.trainImages, numTrain * inputSize),
    trainLabels: new Uint8Array(b.trainLabels, 0, numTrain),
    trainCond: new Uint8Array(b.trainCond),
    trainY: new Float32Array(b.trainY),
    testY: new Float32Array(b.testY),
    state: new Float32Array(b.state),
    testImages: images(b.testImages, b.testImages.byteLength / bytesPerValue),
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


/**
 * Shard `shard`'s result into its record and its slabs' loss sums (worker side, before
 * it marks the step done). With micro-shards, slab j's loss is microLossSums[j].
 */
export function writeResult(views: SharedViews, shard: number, firstSlab: number, r: ShardResult): void {
  const rec = views.results.subarray(shard * RESULT_FIELDS, (shard + 1) * RESULT_FIELDS);
  rec[RESULT.lossSum] = r.lossSum;
  rec[RESULT.weightSum] = r.weightSum;
  rec[RESULT.nonFinite] = r.nonFinite ? 1 : 0;
  rec[RESULT.weightsVersion] = r.weightsVersion;
  rec[RESULT.numTensors] = r.numTensors;
  rec[RESULT.computeMs] = r.computeMs;
  if (r.microLossSums) views.slabLoss.set(r.microLossSums, firstSlab);
  else views.slabLoss[firstSlab] = r.lossSum;
}

/** Shard `shard`'s result as its loop wrote it (coordinator side, after the shard marked the step done). */
export function readResult(views: SharedViews, shard: number, task: ShardTask): ShardResult {
  const rec = views.results.subarray(shard * RESULT_FIELDS, (shard + 1) * RESULT_FIELDS);
  return {
    lossSum: rec[RESULT.lossSum],
    weightSum: rec[RESULT.weightSum],
    nonFinite: rec[RESULT.nonFinite] !== 0,
    weightsVersion: rec[RESULT.weightsVersion],
    numTensors: rec[RESULT.numTensors],
    computeMs: rec[RESULT.computeMs],
    microLossSums: task.microRows > 0 ? Array.from(views.slabLoss.subarray(task.slab, task.slab + slabCount(task))) : undefined,
  };
}
