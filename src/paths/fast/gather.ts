// The fast path's gather: a task's rows of the batch from the shared dataset into the
// MLP's input buffers, with the transposed copy its first layer's weight gradient reads.
import { BYTE_SCALE } from '../../data/pixels.js';
import type { Images } from '../../data/pixels.js';
import type { MlpInputs } from '../../model/mlp.js';

/**
 * Gathers rows `indices[start..end)` of the dataset: pixels into `out.x` and `out.xT`,
 * combined-label rows ([one-hot | condition], `labelWidth` floats) into `out.label`.
 * Returns the rows' condition sum (their last label column): the built-in task's sample
 * weight. Buffers must hold at least (end - start) rows.
 */
export function gatherRows(
  images: Images,
  labelRows: Float32Array,
  indices: Int32Array,
  start: number,
  end: number,
  inputSize: number,
  labelWidth: number,
  out: MlpInputs,
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
  const { label } = out;
  for (r = 0; r < rows; r++) {
    const src = indices[start + r] * labelWidth;
    const dst = r * labelWidth;
    for (let k = 0; k < labelWidth; k++) label[dst + k] = labelRows[src + k];
    conditionSum += labelRows[src + labelWidth - 1];
  }
  return conditionSum;
}
