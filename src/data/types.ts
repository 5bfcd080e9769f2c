// What every data reader produces (IDX, .npy, typed arrays) and the error it throws.
import type { Images } from './pixels.js';

export class DataError extends Error {
  readonly code = 'E_DATA';
}

/** Each row's class from combined-label rows: the first largest of its first numClasses columns (as tf.argMax). */
export function classesOfRows(values: Float32Array, width: number, numClasses: number): Uint8Array {
  const count = values.length / width;
  const classes = new Uint8Array(new SharedArrayBuffer(count));
  const n = Math.min(numClasses, width);
  for (let r = 0; r < count; r++) {
    let best = 0;
    for (let k = 1; k < n; k++) if (values[r * width + k] > values[r * width + best]) best = k;
    classes[r] = best;
  }
  return classes;
}

export interface Split<I extends Images = Images> {
  /** Bytes (scaled by 1/255 when read, as the seed does) or float32 values (used as they are). */
  images: I;
  labels: Uint8Array;
  count: number;
  /** Values per row (rows * cols of an IDX image). */
  inputSize: number;
  /** One row's shape, e.g. [28, 28] for IDX images: what a task's model takes. */
  shape: number[];
  /**
   * Combined labels given as they are ([count, width] float32 in shared memory, from a
   * .npy y of shape [N, width]): a task's label() is then not used, and `labels` holds
   * each row's class, the first largest of its first numClasses columns.
   */
  labelRows?: { values: Float32Array; width: number };
}

export interface Dataset<I extends Images = Images> {
  /** Where it was read from (null: given as typed arrays). */
  dir: string | null;
  train: Split<I>;
  test: Split<I>;
  /**
   * Validation data given apart (train()'s validationData): the last `validationRows`
   * rows of `train`, after the training rows (already cut to --limit). Never trained on.
   */
  validationRows?: number;
}

/** The training rows a run loads: the first `limit` (--limit), or all; with validation data given apart, its rows too (after them). */
export function trainRows(data: Dataset, limit: number | null): number {
  return data.validationRows ? data.train.count : Math.min(limit ?? Infinity, data.train.count);
}
