// Reads NumPy .npy files (format versions 1-3), every header field checked, errors one
// line naming the file. Written here rather than taken from npm: the two readers there
// either fetch over the network (npyjs, with cross-fetch) or accept any dtype and shape
// without checks (numpy-parser), and a dataset needs exactly what this checks: C order,
// little-endian, and the dtypes a dataset uses (bytes or float32 pixels, integer classes).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { classesOfRows, DataError } from './types.js';
import type { Dataset, Split } from './types.js';
import { sharedBytes } from './shared.js';

const MAGIC = '\x93NUMPY';

/** The dtypes read, as NumPy writes them ('|u1' for bytes; '<' little-endian). */
const DTYPES = {
  '|u1': { bytes: 1, read: (v: DataView, o: number) => v.getUint8(o) },
  '<f4': { bytes: 4, read: (v: DataView, o: number) => v.getFloat32(o, true) },
  '<i4': { bytes: 4, read: (v: DataView, o: number) => v.getInt32(o, true) },
  // As a BigInt, so that a huge class id is reported as it is, not rounded.
  '<i8': { bytes: 8, read: (v: DataView, o: number) => v.getBigInt64(o, true) },
  '<u2': { bytes: 2, read: (v: DataView, o: number) => v.getUint16(o, true) },
  '<i2': { bytes: 2, read: (v: DataView, o: number) => v.getInt16(o, true) },
} as const;
type Dtype = keyof typeof DTYPES;

export interface NpyArray {
  dtype: Dtype;
  shape: number[];
  /** The data bytes, after the header. */
  data: Uint8Array;
}

/** Parses the bytes of a .npy file; `file` is only used in messages. */
export function parseNpy(bytes: Uint8Array, file: string): NpyArray {
  if (bytes.length < 10 || String.fromCharCode(...bytes.subarray(0, 6)) !== MAGIC) throw new DataError(`${file}: not a .npy file (no \\x93NUMPY magic)`);
  const major = bytes[6];
  if (major < 1 || major > 3) throw new DataError(`${file}: unsupported .npy format version ${major}.${bytes[7]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) throw new DataError(`${file}: truncated header (${bytes.length} bytes)`);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lenBytes;
  if (bytes.length < start + headerLen) throw new DataError(`${file}: truncated header (${bytes.length} bytes, the header needs ${start + headerLen})`);
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const order = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined && /'descr'\s*:\s*\[/.test(header)) throw new DataError(`${file}: structured dtypes are not supported (save a plain array)`);
  if (descr === undefined || order === undefined || shapeText === undefined) throw new DataError(`${file}: header is not a .npy header dict (${JSON.stringify(header.trim().slice(0, 80))})`);
  if (!(descr in DTYPES)) throw new DataError(`${file}: unsupported dtype '${descr}' (expected uint8 '|u1' or float32 '<f4' images, integer labels '<i8', '<i4', '<i2', '<u2' or '|u1')`);
  if (order === 'True') throw new DataError(`${file}: Fortran order is not supported (save it with np.ascontiguousarray)`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new DataError(`${file}: shape (${shapeText}) is not a tuple of sizes`);
  const dtype = descr as Dtype;
  const expected = shape.reduce((a, b) => a * b, 1) * DTYPES[dtype].bytes;
  const actual = bytes.length - start - headerLen;
  if (actual !== expected) {
    throw new DataError(`${file}: ${actual < expected ? 'truncated' : 'trailing bytes'}: shape [${shape.join(',')}] of ${descr} needs ${expected} data bytes, found ${actual}`);
  }
  return { dtype, shape, data: bytes.subarray(start + headerLen) };
}

export function readNpy(path: string): NpyArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(code === 'ENOENT' ? `${path}: file not found` : `${path}: cannot read (${code ?? (e as Error).message})`);
  }
  return parseNpy(bytes, path);
}

export const NPY_FILES = { trainX: 'train-x.npy', trainY: 'train-y.npy', testX: 'test-x.npy', testY: 'test-y.npy' } as const;

/** A directory holds a .npy dataset when it has train-x.npy (else it is read as IDX). */
export const isNpyDataset = (dir: string): boolean => existsSync(join(dir, NPY_FILES.trainX));

/** x [N, ...] uint8 (scaled /255 when read) or float32, y [N] integer classes; into shared memory. */
export function loadNpyDataset(dir: string, numClasses: number): Dataset {
  const train = readNpySplit(join(dir, NPY_FILES.trainX), join(dir, NPY_FILES.trainY), numClasses);
  const test = readNpySplit(join(dir, NPY_FILES.testX), join(dir, NPY_FILES.testY), numClasses);
  if (test.inputSize !== train.inputSize) throw new DataError(`${join(dir, NPY_FILES.testX)}: ${test.inputSize} values per row, ${NPY_FILES.trainX} has ${train.inputSize}`);
  if (train.labelRows?.width !== test.labelRows?.width) {
    throw new DataError(`${join(dir, NPY_FILES.testY)}: ${test.labelRows ? `combined labels of ${test.labelRows.width} columns` : 'integer classes'}, ${NPY_FILES.trainY} has ${train.labelRows ? `combined labels of ${train.labelRows.width} columns` : 'integer classes'}`);
  }
  if ((test.images instanceof Float32Array) !== (train.images instanceof Float32Array)) {
    throw new DataError(`${join(dir, NPY_FILES.testX)}: ${test.images instanceof Float32Array ? 'float32' : 'uint8'}, ${NPY_FILES.trainX} is ${train.images instanceof Float32Array ? 'float32' : 'uint8'}; save both with the same dtype`);
  }
  return { dir, train, test };
}

/** The rows of an x file: [N, ...] uint8 (scaled /255 when read) or float32, in shared memory. */
export function readNpyRows(xPath: string): { images: Uint8Array | Float32Array; count: number; inputSize: number; shape: number[] } {
  const x = readNpy(xPath);
  if (x.dtype !== '|u1' && x.dtype !== '<f4') throw new DataError(`${xPath}: dtype '${x.dtype}': images must be uint8 ('|u1') or float32 ('<f4')`);
  if (x.shape.length < 2 || x.shape.some((d) => d === 0)) throw new DataError(`${xPath}: shape [${x.shape.join(',')}]: expected [N, ...] of sizes >= 1`);
  const [count, ...row] = x.shape;
  return { images: sharedImages(x, xPath), count, inputSize: row.reduce((a, b) => a * b, 1), shape: row };
}

function readNpySplit(xPath: string, yPath: string, numClasses: number): Split {
  const { images, count, inputSize, shape: row } = readNpyRows(xPath);
  const y = readNpy(yPath);
  if (y.shape[0] !== count) throw new DataError(`${yPath}: ${y.shape[0]} labels for ${count} rows in ${xPath}`);
  if (y.shape.length === 2) {
    // Combined labels, as they are: [N, width] float32, each row one sample's label.
    if (y.dtype !== '<f4') throw new DataError(`${yPath}: dtype '${y.dtype}': a combined label [N, width] must be float32 ('<f4')`);
    if (y.shape[1] === 0) throw new DataError(`${yPath}: shape [${y.shape.join(',')}]: a combined label needs at least one column`);
    const values = new Float32Array(sharedBytes(y.data));
    if (!values.every(Number.isFinite)) throw new DataError(`${yPath}: holds a NaN or an infinity`);
    return { images, labels: classesOfRows(values, y.shape[1], numClasses), count, inputSize, shape: row, labelRows: { values, width: y.shape[1] } };
  }
  if (y.shape.length !== 1) throw new DataError(`${yPath}: shape [${y.shape.join(',')}]: expected [N] integer classes or [N, width] float32 combined labels`);
  if (y.dtype === '<f4') throw new DataError(`${yPath}: dtype '<f4': class labels must be integers ('<i8', '<i4', '<i2', '<u2' or '|u1'); float32 is read as combined labels of shape [N, width]`);
  const labels = new Uint8Array(new SharedArrayBuffer(count));
  const view = new DataView(y.data.buffer, y.data.byteOffset, y.data.byteLength);
  const { bytes, read } = DTYPES[y.dtype];
  for (let i = 0; i < count; i++) {
    const c = read(view, i * bytes);
    if (c < 0 || c >= numClasses) throw new DataError(`${yPath}: label ${c} at row ${i} is outside the class range 0..${numClasses - 1}`);
    labels[i] = Number(c);
  }
  return { images, labels, count, inputSize, shape: row };
}

/** x into shared memory once (a copy: the file's bytes are not aligned for float32 after the header). */
function sharedImages(x: NpyArray, xPath: string): Uint8Array | Float32Array {
  const sab = sharedBytes(x.data);
  const images = x.dtype === '<f4' ? new Float32Array(sab) : new Uint8Array(sab);
  if (images instanceof Float32Array && !images.every(Number.isFinite)) throw new DataError(`${xPath}: holds a NaN or an infinity`);
  return images;
}
