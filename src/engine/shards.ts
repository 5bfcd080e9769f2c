// How a batch is cut into shards (coordinator side) and how a worker gathers the rows
// of its shard from the shared dataset into reusable input buffers (worker side).
import { writeCombinedLabel } from '../model/labels.js';

/**
 * Splits [0, batchSize) into `numShards` contiguous ranges whose sizes differ by at
 * most one (the first `batchSize % numShards` shards get the extra row).
 */
export function splitShards(batchSize: number, numShards: number): [number, number][] {
  const base = Math.floor(batchSize / numShards);
  const extra = batchSize % numShards;
  const out: [number, number][] = [];
  let start = 0;
  for (let i = 0; i < numShards; i++) {
    const end = start + base + (i < extra ? 1 : 0);
    out.push([start, end]);
    start = end;
  }
  return out;
}

/** One worker's part of a step: rows [start, end) of the batch, written from slab `slab` on. */
export interface ShardTask {
  start: number;
  end: number;
  /** The first gradient slab this task writes (one slab per task, or per micro-shard). */
  slab: number;
  /** 0: the task's rows are one shard. > 0: cut into micro-shards of this many rows, each its own slab. */
  microRows: number;
}

/** How many slabs a task writes: one, or one per micro-shard. */
export function slabCount(t: ShardTask): number {
  return t.microRows > 0 ? Math.ceil((t.end - t.start) / t.microRows) : 1;
}

export interface ShardPlan {
  tasks: ShardTask[];
  /** Slabs the reduce sums, in order. */
  numSlabs: number;
}

/**
 * The tasks of one step. Normal mode: one contiguous shard per worker, sizes differing
 * by at most one. Deterministic mode (microRows > 0): the batch is cut into
 * micro-shards of `microRows` rows whose boundaries do not depend on the worker count;
 * each worker gets a contiguous run of whole micro-shards, and every micro-shard's
 * gradient lands in its own slab, so the reduce adds the same numbers in the same order
 * whatever the number of workers.
 */
export function planShards(batchSize: number, numWorkers: number, microRows = 0): ShardPlan {
  if (microRows <= 0) {
    return { tasks: splitShards(batchSize, numWorkers).map(([start, end], i) => ({ start, end, slab: i, microRows: 0 })), numSlabs: numWorkers };
  }
  const numMicro = Math.ceil(batchSize / microRows);
  const tasks = splitShards(numMicro, numWorkers).map(([m0, m1]) => ({
    start: Math.min(m0 * microRows, batchSize), end: Math.min(m1 * microRows, batchSize), slab: m0, microRows,
  }));
  return { tasks, numSlabs: numMicro };
}

export interface ShardBuffers {
  /** [rows, inputSize] pixels scaled to [0, 1]. */
  x: Float32Array;
  /** [inputSize, rows]: x transposed, so the first layer's weight gradient is a plain matmul. */
  xT: Float32Array;
  /** [rows, C + 1] combined labels. */
  label: Float32Array;
}

/**
 * A byte's pixel value as the model takes it: byte / 255 rounded to float32, exactly
 * what storing `byte / 255` into a Float32Array gives (the seed's scaling), read from a
 * table instead of divided per pixel.
 */
const BYTE_SCALE = Float32Array.from({ length: 256 }, (_, b) => b / 255);

/**
 * Gathers rows `indices[start..end)` of the dataset. Returns the number of rows
 * whose condition is 1. Buffers must hold at least (end - start) rows.
 */
export function gatherRows(
  images: Uint8Array | Float32Array,
  labels: Uint8Array,
  cond: Uint8Array,
  indices: Int32Array,
  start: number,
  end: number,
  inputSize: number,
  numClasses: number,
  out: ShardBuffers,
): number {
  const rows = end - start;
  const { x, xT } = out;
  let r = 0;
  if (images instanceof Uint8Array) {
    // Four rows at a time: each cache line of the transposed copy xT takes four adjacent
    // values at once rather than one value per row pass (a 2 KiB stride at 512 rows).
    // `npm run bench:loops`: at 512 rows under half the time of a row at a time.
    for (; r + 4 <= rows; r += 4) {
      const s0 = indices[start + r] * inputSize;
      const s1 = indices[start + r + 1] * inputSize;
      const s2 = indices[start + r + 2] * inputSize;
      const s3 = indices[start + r + 3] * inputSize;
      const d0 = r * inputSize;
      const d1 = d0 + inputSize;
      const d2 = d1 + inputSize;
      const d3 = d2 + inputSize;
      for (let k = 0; k < inputSize; k++) {
        const a = BYTE_SCALE[images[s0 + k]];
        const b = BYTE_SCALE[images[s1 + k]];
        const c = BYTE_SCALE[images[s2 + k]];
        const e = BYTE_SCALE[images[s3 + k]];
        x[d0 + k] = a;
        x[d1 + k] = b;
        x[d2 + k] = c;
        x[d3 + k] = e;
        const t = k * rows + r;
        xT[t] = a;
        xT[t + 1] = b;
        xT[t + 2] = c;
        xT[t + 3] = e;
      }
    }
    for (; r < rows; r++) {
      const src = indices[start + r] * inputSize;
      const dst = r * inputSize;
      for (let k = 0; k < inputSize; k++) {
        const v = BYTE_SCALE[images[src + k]];
        x[dst + k] = v;
        xT[k * rows + r] = v;
      }
    }
  } else {
    for (; r < rows; r++) {
      const src = indices[start + r] * inputSize;
      const dst = r * inputSize;
      for (let k = 0; k < inputSize; k++) {
        const v = images[src + k];
        x[dst + k] = v;
        xT[k * rows + r] = v;
      }
    }
  }
  let conditionSum = 0;
  for (r = 0; r < rows; r++) {
    const i = indices[start + r];
    writeCombinedLabel(labels[i], cond[i], numClasses, out.label, r * (numClasses + 1));
    conditionSum += cond[i];
  }
  return conditionSum;
}

/**
 * Rows [start, start + rows) of a split's images into `out` as the model takes them:
 * bytes divided by 255 (as the seed does), floats as they are. Returns `out`.
 */
export function scaledRows(images: Uint8Array | Float32Array, start: number, rows: number, inputSize: number, out: Float32Array): Float32Array {
  const from = images.subarray(start * inputSize, (start + rows) * inputSize);
  if (from instanceof Uint8Array) for (let i = 0; i < from.length; i++) out[i] = BYTE_SCALE[from[i]];
  else out.set(from);
  return out;
}

/**
 * The general path's gather: rows `indices[start..end)` of the dataset into `x`
 * ([rows, inputSize], bytes scaled /255 as on the fast path) and of the combined-label
 * rows (built once at load) into `y` ([rows, labelWidth]).
 */
export function gatherTaskRows(
  images: Uint8Array | Float32Array, labelRows: Float32Array, indices: Int32Array, start: number, end: number,
  inputSize: number, labelWidth: number, x: Float32Array, y: Float32Array,
): void {
  const bytes = images instanceof Uint8Array;
  for (let r = 0; r < end - start; r++) {
    const i = indices[start + r];
    const src = i * inputSize;
    const dst = r * inputSize;
    if (bytes) for (let k = 0; k < inputSize; k++) x[dst + k] = BYTE_SCALE[images[src + k]];
    else x.set(images.subarray(src, src + inputSize), dst);
    y.set(labelRows.subarray(i * labelWidth, (i + 1) * labelWidth), r * labelWidth);
  }
}
