// A dataset given to train() as typed arrays: checked (one-line errors naming the
// array and what is wrong) and copied into shared memory, like the IDX reader's.
import { classesOfRows, DataError } from './types.js';
import type { Dataset, Split } from './types.js';
import { sharedBytes } from './shared.js';

/**
 * One split as arrays: images of shape [N, ...] (bytes, scaled /255, or float32), and
 * integer class labels, or with `labelWidth` the combined labels themselves (a
 * Float32Array of N * labelWidth: a task's label() is then not used).
 */
export interface ArraySplit {
  images: Uint8Array | Float32Array;
  labels: ArrayLike<number>;
  shape: readonly number[];
  labelWidth?: number;
}

export function datasetFromArrays(data: { train: ArraySplit; test?: ArraySplit }, numClasses: number): Dataset {
  const train = splitFromArrays(data.train, 'data.train', numClasses);
  // Without a test split the evaluation reports the training rows and an empty test set.
  const test = data.test ? splitFromArrays(data.test, 'data.test', numClasses) : emptyLike(train);
  if (data.test && train.labelRows?.width !== test.labelRows?.width) throw new DataError(`data.test.labelWidth: ${test.labelRows?.width ?? 'none'}, data.train has ${train.labelRows?.width ?? 'none'}`);
  if (test.inputSize !== train.inputSize) throw new DataError(`data.test: ${test.inputSize} values per row, data.train has ${train.inputSize}`);
  if ((test.images instanceof Float32Array) !== (train.images instanceof Float32Array)) {
    throw new DataError(`data.test.images: a ${test.images.constructor.name}, data.train.images a ${train.images.constructor.name}; give both the same type`);
  }
  return { dir: null, train, test };
}

/**
 * `data` with validation data given apart (train()'s validationData, Keras'
 * validation_data) after its first `limit` training rows: one training split in shared
 * memory, whose last rows are validated after every epoch and never trained on.
 */
export function withValidationData(data: Dataset, validation: ArraySplit, numClasses: number, limit: number | null): Dataset {
  const v = splitFromArrays(validation, 'validationData', numClasses);
  const { train } = data;
  if (v.inputSize !== train.inputSize) throw new DataError(`validationData: ${v.inputSize} values per row, the training rows have ${train.inputSize}`);
  if ((v.images instanceof Float32Array) !== (train.images instanceof Float32Array)) {
    throw new DataError(`validationData.images: ${v.images instanceof Float32Array ? 'float32' : 'bytes'}, the training images are ${train.images instanceof Float32Array ? 'float32' : 'bytes'}; give both the same type`);
  }
  if (v.labelRows?.width !== train.labelRows?.width) {
    throw new DataError(`validationData.labelWidth: ${v.labelRows?.width ?? 'none'}, the training labels have ${train.labelRows ? `${train.labelRows.width} columns` : 'none (classes)'}`);
  }
  const n = Math.min(limit ?? Infinity, train.count);
  const join = <T extends Uint8Array | Float32Array>(a: T, b: T, aLength: number): T => {
    const out = new (a.constructor as new (b: SharedArrayBuffer) => T)(new SharedArrayBuffer((aLength + b.length) * a.BYTES_PER_ELEMENT));
    out.set(a.subarray(0, aLength));
    out.set(b, aLength);
    return out;
  };
  const labelRows = train.labelRows && v.labelRows
    ? { values: join(train.labelRows.values, v.labelRows.values, n * train.labelRows.width), width: train.labelRows.width } : undefined;
  return {
    ...data,
    train: {
      ...train, images: join(train.images, v.images as typeof train.images, n * train.inputSize), labels: join(train.labels, v.labels, n),
      count: n + v.count, ...(labelRows ? { labelRows } : {}),
    },
    validationRows: v.count,
  };
}

function splitFromArrays(s: ArraySplit, name: string, numClasses: number): Split {
  if (typeof s !== 'object' || s === null) throw new DataError(`${name}: expected { images, labels, shape }`);
  if (!(s.images instanceof Uint8Array) && !(s.images instanceof Float32Array)) {
    throw new DataError(`${name}.images: expected a Uint8Array or a Float32Array, got ${describe(s.images)}`);
  }
  const { shape } = s;
  if (!Array.isArray(shape) || shape.length < 2 || !shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw new DataError(`${name}.shape: expected [N, ...] with at least two positive integers, got ${JSON.stringify(shape)}`);
  }
  const [count, ...row] = shape;
  const inputSize = row.reduce((a, b) => a * b, 1);
  if (s.images.length !== count * inputSize) {
    throw new DataError(`${name}.images: ${s.images.length} values, shape [${shape.join(',')}] needs ${count * inputSize}`);
  }
  const sab = sharedBytes(s.images);
  const images = s.images instanceof Float32Array ? new Float32Array(sab) : new Uint8Array(sab);
  if (images instanceof Float32Array && !images.every(Number.isFinite)) throw new DataError(`${name}.images: holds a NaN or an infinity`);
  if (s.labelWidth !== undefined) {
    const w = s.labelWidth;
    if (!Number.isSafeInteger(w) || w < 1) throw new DataError(`${name}.labelWidth: expected an integer >= 1, got ${JSON.stringify(w)}`);
    if (!(s.labels instanceof Float32Array) || s.labels.length !== count * w) {
      throw new DataError(`${name}.labels: with labelWidth ${w}, expected a Float32Array of ${count * w} values (${count} rows), got ${describe(s.labels)}${s.labels?.length === undefined ? '' : ` of ${s.labels.length}`}`);
    }
    const values = new Float32Array(sharedBytes(s.labels));
    if (!values.every(Number.isFinite)) throw new DataError(`${name}.labels: holds a NaN or an infinity`);
    return { images, labels: classesOfRows(values, w, numClasses), count, inputSize, shape: row, labelRows: { values, width: w } };
  }
  if (s.labels?.length !== count) throw new DataError(`${name}.labels: ${s.labels?.length ?? 'no'} labels for ${count} rows`);
  const labels = new Uint8Array(new SharedArrayBuffer(count));
  for (let i = 0; i < count; i++) {
    const c = s.labels[i];
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) throw new DataError(`${name}.labels: label ${c} at row ${i} is outside the class range 0..${numClasses - 1}`);
    labels[i] = c;
  }
  return { images, labels, count, inputSize, shape: row };
}

function emptyLike(s: Split): Split {
  const images = s.images instanceof Float32Array ? new Float32Array(new SharedArrayBuffer(0)) : new Uint8Array(new SharedArrayBuffer(0));
  return { images, labels: new Uint8Array(new SharedArrayBuffer(0)), count: 0, inputSize: s.inputSize, shape: s.shape };
}

const describe = (v: unknown) => (v === null ? 'null' : typeof v === 'object' ? (v.constructor?.name ?? 'an object') : typeof v);
