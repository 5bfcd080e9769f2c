// What every data reader produces (IDX, .npy, typed arrays) and the error it throws.
import type { Images } from '../engine/shared-memory.js';

export class DataError extends Error {
  readonly code = 'E_DATA';
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
}

export interface Dataset<I extends Images = Images> {
  /** Where it was read from (null: given as typed arrays). */
  dir: string | null;
  train: Split<I>;
  test: Split<I>;
}
