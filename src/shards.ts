// How a batch is cut into shards (coordinator side) and how a worker gathers the rows
// of its shard from the shared dataset into reusable input buffers (worker side).
import { writeCombinedLabel } from './labels.js';

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

export interface ShardBuffers {
  /** [rows, inputSize] pixels scaled to [0, 1]. */
  x: Float32Array;
  /** [inputSize, rows]: x transposed, so the first layer's weight gradient is a plain matmul. */
  xT: Float32Array;
  /** [rows, C + 1] combined labels. */
  label: Float32Array;
}

/**
 * Gathers rows `indices[start..end)` of the dataset. Returns the number of rows
 * whose condition is 1. Buffers must hold at least (end - start) rows.
 */
export function gatherRows(
  images: Uint8Array,
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
  const { x, xT, label } = out;
  let conditionSum = 0;
  for (let r = 0; r < rows; r++) {
    const i = indices[start + r];
    const src = i * inputSize;
    const dst = r * inputSize;
    for (let k = 0; k < inputSize; k++) {
      const v = images[src + k] / 255;
      x[dst + k] = v;
      xT[k * rows + r] = v;
    }
    writeCombinedLabel(labels[i], cond[i], numClasses, label, r * (numClasses + 1));
    conditionSum += cond[i];
  }
  return conditionSum;
}
