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

/**
 * One step-loop thread's part of a step: rows [start, end) of the batch, cut into
 * `parts` (contiguous row ranges, in order), each computed on its own and written to its
 * own gradient slab, `slab + j` for part j. One part is the common case: one shard per
 * thread. More: the shards of --workers above --threads, or deterministic mode's
 * micro-shards, run one after the other in the thread.
 */
export interface ShardTask {
  start: number;
  end: number;
  /** The first gradient slab this task writes. */
  slab: number;
  parts: [number, number][];
}

/** How many slabs a task writes: one per part. */
export function slabCount(t: ShardTask): number {
  return t.parts.length;
}

export interface ShardPlan {
  tasks: ShardTask[];
  /** Slabs the reduce sums, in order: one per part of every task. */
  numSlabs: number;
}

/**
 * The tasks of one step, one per step-loop thread. The batch is cut into parts whose
 * boundaries do not depend on the thread count: normal mode, one shard per worker
 * (sizes differing by at most one); deterministic mode (microRows > 0), micro-shards of
 * `microRows` rows, whose boundaries depend on neither. Each thread gets a contiguous run
 * of whole parts, and every part's gradient lands in its own slab, so the reduce adds
 * the same numbers in the same order whatever the thread count: N workers on fewer
 * threads give the weights of N threads bit for bit, and deterministic mode those of
 * any worker count. Two limits: a thread adds its parts' sample-weight sums before the
 * coordinator adds the threads' (exact in float64 for the built-in task's counts and for
 * weights of similar magnitude; weights many orders apart can differ in the last bit of
 * the normaliser); and a thread's later parts run on a model whose non-trainable state
 * (BatchNorm's moving statistics) its first part updated, which training-mode BatchNorm
 * never reads.
 */
export function planShards(batchSize: number, numWorkers: number, microRows = 0, numThreads = numWorkers): ShardPlan {
  const parts: [number, number][] = microRows > 0
    ? Array.from({ length: Math.ceil(batchSize / microRows) }, (_, m) => [m * microRows, Math.min((m + 1) * microRows, batchSize)])
    : splitShards(batchSize, numWorkers);
  // More threads than micro-shards leaves some threads no rows: no parts, no slab.
  const tasks = splitShards(parts.length, numThreads).map(([p0, p1]) => {
    const start = p0 < parts.length ? parts[p0][0] : batchSize;
    return { start, end: p1 > p0 ? parts[p1 - 1][1] : start, slab: p0, parts: parts.slice(p0, p1) };
  });
  return { tasks, numSlabs: parts.length };
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
