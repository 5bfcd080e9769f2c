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
//   batch         Int32Array      batchSize                  coordinator           before dispatching a step
//   predictions   Uint8Array      numTrain + numTest         task owning the rows  during evaluation only
//   control       Int32Array      CONTROL_SLOTS              coordinator           between steps only
//
// Images stay bytes (47 MB for MNIST instead of 188 MB as floats); workers scale
// the rows they read to [0, 1] while building their shard's input. The IDX reader
// decodes straight into SharedArrayBuffers (`sharedBytes`), so the dataset is held
// once, not as a file buffer plus a shared copy. With --limit, the first numTrain
// rows (numTrain = trainCond's length) are the training set.

export const CONTROL = { weightsVersion: 0 } as const;
const CONTROL_SLOTS = 1;

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
  batchSize: number;
}

export function allocShared(data: SharedDataset, s: SharedSizes): SharedBuffers {
  return {
    ...data,
    trainCond: new SharedArrayBuffer(s.numTrain),
    weights: new SharedArrayBuffer(s.numParams * 4),
    slabs: new SharedArrayBuffer(s.numSlabs * s.numParams * 4),
    batch: new SharedArrayBuffer(s.batchSize * 4),
    predictions: new SharedArrayBuffer(s.numTrain + data.testLabels.byteLength),
    control: new SharedArrayBuffer(CONTROL_SLOTS * 4),
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
    control: new Int32Array(b.control),
  };
}

/** A parameter's region of a flat weights or gradient array (a view, not a copy). */
export function paramView(flat: Float32Array, p: ParamSpec): Float32Array {
  return flat.subarray(p.offset, p.offset + p.size);
}
