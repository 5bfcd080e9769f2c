// The general path's gather: a task's rows of the batch, pixels as the model takes them
// and their combined-label rows (built once at load), into the model's input buffers.
import { BYTE_SCALE } from '../../data/pixels.js';
import type { Images } from '../../data/pixels.js';

/**
 * Rows `indices[start..end)` of the dataset into `x` ([rows, inputSize]) and of the
 * combined-label rows into `y` ([rows, labelWidth]).
 */
export function gatherTaskRows(
  images: Images, labelRows: Float32Array, indices: Int32Array, start: number, end: number,
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
