// Owns the SharedArrayBuffer regions that the coordinator and the workers share and
// the shard result record in them (the parameter layout is src/model/layout.ts; the
// control words are src/engine/step-channel.ts).
//
//   region        type            size                       written by            when
//   ------------  --------------  -------------------------  --------------------  ------------------------
//   trainImages   Uint8Array or   count * inputSize          the data reader       once, at load
//                 Float32Array
//   trainLabels   Uint8Array      count                      the IDX reader        once, at load
//   trainY        Float32Array    numTrain * labelWidth      coordinator           once, at load (combined labels)
//   testY         Float32Array    numTest * labelWidth       coordinator           once, at load
//   testImages    as trainImages  numTest * inputSize        the data reader       once, at load
//   testLabels    Uint8Array      numTest                    the IDX reader        once, at load
//   weights       Float32Array    2 * numParams (two slots)  worker i, its slice   the update phase of a step
//   optState      Float32Array    2 * K * numParams          worker i, its slice   the update phase of a step
//                 (K: the optimiser's state vectors, Adam's m and v, src/optim/optimizers.ts)
//                 The weights (and the optimiser's state) after k steps are in slot k % 2: step k
//                 reads slot k % 2 and writes slot (k + 1) % 2, so a step that fails half
//                 way leaves the state before it whole, and is recomputed from it.
//   grad          Float32Array    numParams                  worker i, its slice   the update phase of a step (the reduced gradient;
//                                                                                   read whole with --clip-norm, and by oneStepGradient)
//   slabs         Float32Array    numSlabs * numParams       the task owning slab  the gradient phase of a step
//   state         Float32Array    numParams, or 0 without    shard 0's loop task   during a step only
//                                 non-trainable weights      (BatchNorm's moving statistics after its step)
//   batch         Int32Array      RING * batchSize           coordinator           a slot no shard still reads
//   predictions   Uint8Array      numTrain + numTest         task owning the rows  during evaluation only
//   results       Float64Array    RING * numShards * FIELDS  shard i's loop task   its record of step s in ring slot s % RING
//   slabLoss      Float64Array    RING * numSlabs            the task owning slab  as results
//   control       Int32Array      4 + 4 * numShards          see step-channel.ts
//
// Byte images stay bytes (47 MB for MNIST instead of 188 MB as floats); workers scale
// the rows they read to [0, 1] while building their shard's input. Float32 images
// (given to train() as typed arrays) are used as they are. The IDX reader
// decodes straight into SharedArrayBuffers (src/data/shared.ts), so the dataset is held
// once, not as a file buffer plus a shared copy. With --limit, the first numTrain
// rows are the training set.
import type { Images } from '../data/pixels.js';
import type { ShardTask } from './shards.js';
import { slabCount } from './shards.js';
import { controlWords, RING } from './step-channel.js';
export { RING };

/**
 * One shard's result for one step, as its loop writes it (writeResult) and the
 * coordinator reads it back (readResult).
 */
export interface ShardResult {
  lossSum: number;
  /** True when a gradient value written to a slab is NaN or infinite. */
  nonFinite: boolean;
  /** A task of several parts (src/engine/shards.ts): each part's loss sum, so the coordinator adds them in order. */
  microLossSums?: number[];
  /** The sum of the shard's sample weights (the built-in task: its rows whose condition is 1). */
  weightSum: number;
  /** The weights version the worker read from shared memory, checked by the coordinator. */
  weightsVersion: number;
  /** Buffers held after the step: must equal the count at start-up (no leaks). */
  numTensors: number;
  /** Weights in, forward, backward, gradients into the slab(s). */
  computeMs: number;
  /** The worker's V8 heap in use and its wasm memory after the step, MB: where a worker's memory goes (soak runs). */
  heapMB: number;
  wasmMB: number;
}

/** When a shard's loop finished a step, and its update phase (written after its gradient: see writeTiming). */
export interface StepTiming {
  /** Reduce and the optimiser's update over the shard's slice of the parameters. */
  updateMs: number;
  /** The step's wall time in this loop's thread: from the end of its previous step (or its start) to the end of this one. */
  stepMs: number;
  /** When the step ended, as performance.timeOrigin + performance.now(): comparable across threads. */
  endAt: number;
  /** The reduced gradient's global norm (computed with --clip-norm; NaN without). */
  gradNorm: number;
}

/** Shard i's record in `results`: a ShardResult as float64s (micro-shard losses are in slabLoss). */
const RESULT = { lossSum: 0, weightSum: 1, nonFinite: 2, weightsVersion: 3, numTensors: 4, computeMs: 5, updateMs: 6, stepMs: 7, endAt: 8, heapMB: 9, wasmMB: 10, gradNorm: 11 } as const;
const RESULT_FIELDS = 12;


export interface SharedBuffers {
  /** True when the image regions hold float32 values, false for bytes. */
  floatImages: boolean;
  /** The training rows loaded: the first numTrain of trainImages and trainLabels (--limit), the trained ones and any held out for validation. */
  numTrain: number;
  trainImages: SharedArrayBuffer;
  trainLabels: SharedArrayBuffer;
  trainY: SharedArrayBuffer;
  testImages: SharedArrayBuffer;
  testLabels: SharedArrayBuffer;
  testY: SharedArrayBuffer;
  weights: SharedArrayBuffer;
  /** The optimiser's state vectors, slot 0's then slot 1's. */
  optState: SharedArrayBuffer;
  grad: SharedArrayBuffer;
  slabs: SharedArrayBuffer;
  state: SharedArrayBuffer;
  batch: SharedArrayBuffer;
  predictions: SharedArrayBuffer;
  results: SharedArrayBuffer;
  slabLoss: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

/** The dataset's regions, already in shared memory (see src/data/shared.ts). */
export interface SharedDataset {
  floatImages: boolean;
  trainImages: SharedArrayBuffer;
  trainLabels: SharedArrayBuffer;
  testImages: SharedArrayBuffer;
  testLabels: SharedArrayBuffer;
  /** Every row's combined label (labelWidth floats): the task's label() or the data's own, built once. */
  trainY: SharedArrayBuffer;
  testY: SharedArrayBuffer;
}

export interface SharedSizes {
  numTrain: number;
  numParams: number;
  /** The optimiser's state vectors (stateNames). */
  numStates: number;
  /** One per worker, or one per micro-shard in deterministic mode. */
  numSlabs: number;
  /** Result records and control words for this many step-loop tasks: one per worker, the most a run has (threads <= workers). */
  numShards: number;
  batchSize: number;
  /** The model has non-trainable weights (BatchNorm's moving statistics). */
  hasState: boolean;
}

export function allocShared(data: SharedDataset, s: SharedSizes): SharedBuffers {
  return {
    ...data,
    numTrain: s.numTrain,
    weights: new SharedArrayBuffer(2 * s.numParams * 4),
    optState: new SharedArrayBuffer(2 * s.numStates * s.numParams * 4),
    grad: new SharedArrayBuffer(s.numParams * 4),
    slabs: new SharedArrayBuffer(s.numSlabs * s.numParams * 4),
    state: new SharedArrayBuffer(s.hasState ? s.numParams * 4 : 0),
    batch: new SharedArrayBuffer(RING * s.batchSize * 4),
    predictions: new SharedArrayBuffer(s.numTrain + data.testLabels.byteLength),
    results: new SharedArrayBuffer(RING * s.numShards * RESULT_FIELDS * 8),
    slabLoss: new SharedArrayBuffer(RING * s.numSlabs * 8),
    control: new SharedArrayBuffer(controlWords(s.numShards) * 4),
  };
}

export interface SharedViews {
  trainImages: Images;
  trainLabels: Uint8Array;
  /** Combined-label rows, labelWidth floats each. */
  trainY: Float32Array;
  testImages: Images;
  testLabels: Uint8Array;
  testY: Float32Array;
  /** Slot 0 of the weights: what set-up code and single-step tests write (see weightsAt). */
  weights: Float32Array;
  /** The weights after k steps are weightSlots[k % 2]; the optimiser's state vectors optSlots[k % 2]. */
  weightSlots: [Float32Array, Float32Array];
  optSlots: [Float32Array[], Float32Array[]];
  /** The reduced gradient of a step run without update (oneStepGradient). */
  grad: Float32Array;
  /** The non-trainable weights after shard 0's step, at their layout offsets. */
  state: Float32Array;
  /** slabs[i] is the gradient-sum region of shard (or micro-shard) i. */
  slabs: Float32Array[];
  batch: Int32Array;
  /** predictions of the training rows, then of the test rows. */
  trainPredictions: Uint8Array;
  testPredictions: Uint8Array;
  /** Ring slot s % RING holds every shard's record of step s, shard i's at i * RESULT_FIELDS. */
  results: Float64Array;
  /** The loss sum of each slab's rows. */
  slabLoss: Float64Array;
  control: Int32Array;
}

export function viewsOf(b: SharedBuffers, numParams: number): SharedViews {
  // A layout of another size than the memory was made for (a worker's set-up that
  // disagrees with the coordinator's) is named, not left to a typed array's RangeError.
  if (b.weights.byteLength !== 2 * numParams * 4) {
    throw new Error(`parameter layout mismatch: the shared weights hold ${b.weights.byteLength / 8} parameters, the layout ${numParams}`);
  }
  const numSlabs = b.slabs.byteLength / (numParams * 4);
  const numStates = b.optState.byteLength / (2 * numParams * 4);
  const slots = (sab: SharedArrayBuffer): [Float32Array, Float32Array] => [new Float32Array(sab, 0, numParams), new Float32Array(sab, numParams * 4, numParams)];
  const weightSlots = slots(b.weights);
  const { numTrain } = b;
  const bytesPerValue = b.floatImages ? 4 : 1;
  const inputSize = b.trainImages.byteLength / bytesPerValue / b.trainLabels.byteLength;
  const images = (sab: SharedArrayBuffer, count: number): Images => (b.floatImages ? new Float32Array(sab, 0, count) : new Uint8Array(sab, 0, count));
  const slabs: Float32Array[] = [];
  for (let i = 0; i < numSlabs; i++) slabs.push(new Float32Array(b.slabs, i * numParams * 4, numParams));
  return {
    trainImages: images(b.trainImages, numTrain * inputSize),
    trainLabels: new Uint8Array(b.trainLabels, 0, numTrain),
    trainY: new Float32Array(b.trainY),
    testY: new Float32Array(b.testY),
    state: new Float32Array(b.state),
    testImages: images(b.testImages, b.testImages.byteLength / bytesPerValue),
    testLabels: new Uint8Array(b.testLabels),
    weights: weightSlots[0],
    weightSlots,
    optSlots: [0, 1].map((slot) => Array.from({ length: numStates }, (_, k) => new Float32Array(b.optState, ((slot * numStates) + k) * numParams * 4, numParams))) as [Float32Array[], Float32Array[]],
    grad: new Float32Array(b.grad),
    slabs,
    batch: new Int32Array(b.batch),
    trainPredictions: new Uint8Array(b.predictions, 0, numTrain),
    testPredictions: new Uint8Array(b.predictions, numTrain),
    results: new Float64Array(b.results),
    slabLoss: new Float64Array(b.slabLoss),
    control: new Int32Array(b.control),
  };
}

/** The batch indices of step `step`: slot step % RING of the batch region. */
export function batchSlot(views: SharedViews, step: number): Int32Array {
  const size = views.batch.length / RING;
  return views.batch.subarray((step % RING) * size, (step % RING + 1) * size);
}

/** The weights after `steps` steps (slot steps % 2). */
export const weightsAt = (views: SharedViews, steps: number): Float32Array => views.weightSlots[steps % 2];

/** The optimiser's state vectors after `steps` steps (slot steps % 2). */
export const optStateAt = (views: SharedViews, steps: number): Float32Array[] => views.optSlots[steps % 2];

/** Shard `shard`'s record of step `step` in the results ring. */
function recordOf(views: SharedViews, shard: number, step: number): Float64Array {
  const numShards = views.results.length / RING / RESULT_FIELDS;
  const at = ((step % RING) * numShards + shard) * RESULT_FIELDS;
  return views.results.subarray(at, at + RESULT_FIELDS);
}

/** Slab `slab`'s loss sum of step `step` in the slabLoss ring (its index into views.slabLoss). */
const slabLossAt = (views: SharedViews, slab: number, step: number): number => (step % RING) * views.slabs.length + slab;


/**
 * Shard `shard`'s result into its record and its slabs' loss sums (worker side, before
 * it marks the step done). With several parts, slab j's loss is microLossSums[j].
 */
export function writeResult(views: SharedViews, shard: number, firstSlab: number, step: number, r: ShardResult): void {
  const rec = recordOf(views, shard, step);
  rec[RESULT.lossSum] = r.lossSum;
  rec[RESULT.weightSum] = r.weightSum;
  rec[RESULT.nonFinite] = r.nonFinite ? 1 : 0;
  rec[RESULT.weightsVersion] = r.weightsVersion;
  rec[RESULT.numTensors] = r.numTensors;
  rec[RESULT.computeMs] = r.computeMs;
  rec[RESULT.heapMB] = r.heapMB;
  rec[RESULT.wasmMB] = r.wasmMB;
  if (r.microLossSums) views.slabLoss.set(r.microLossSums, slabLossAt(views, firstSlab, step));
  else views.slabLoss[slabLossAt(views, firstSlab, step)] = r.lossSum;
}

/** Shard `shard`'s timing of `step`: written by its loop after its update, before it marks the step done. */
export function writeTiming(views: SharedViews, shard: number, step: number, t: StepTiming): void {
  const rec = recordOf(views, shard, step);
  rec[RESULT.updateMs] = t.updateMs;
  rec[RESULT.stepMs] = t.stepMs;
  rec[RESULT.endAt] = t.endAt;
  rec[RESULT.gradNorm] = t.gradNorm;
}

/** Shard `shard`'s timing of `step` (coordinator side, once the step is done). */
export function readTiming(views: SharedViews, shard: number, step: number): StepTiming {
  const rec = recordOf(views, shard, step);
  return { updateMs: rec[RESULT.updateMs], stepMs: rec[RESULT.stepMs], endAt: rec[RESULT.endAt], gradNorm: rec[RESULT.gradNorm] };
}

/** What the update phase reads of every shard's record of `step`: its weight sum and whether it was finite. */
export function recordSummary(views: SharedViews, shard: number, step: number): { weightSum: number; finite: boolean } {
  const rec = recordOf(views, shard, step);
  return { weightSum: rec[RESULT.weightSum], finite: rec[RESULT.nonFinite] === 0 && Number.isFinite(rec[RESULT.lossSum]) };
}

/** Shard `shard`'s result as its loop wrote it (coordinator side, after the shard marked the step done). */
export function readResult(views: SharedViews, shard: number, task: ShardTask, step: number): ShardResult {
  const rec = recordOf(views, shard, step);
  return {
    lossSum: rec[RESULT.lossSum],
    weightSum: rec[RESULT.weightSum],
    nonFinite: rec[RESULT.nonFinite] !== 0,
    weightsVersion: rec[RESULT.weightsVersion],
    numTensors: rec[RESULT.numTensors],
    computeMs: rec[RESULT.computeMs],
    heapMB: rec[RESULT.heapMB],
    wasmMB: rec[RESULT.wasmMB],
    microLossSums: task.parts.length !== 1 ? Array.from(views.slabLoss.subarray(slabLossAt(views, task.slab, step), slabLossAt(views, task.slab, step) + slabCount(task))) : undefined,
  };
}
