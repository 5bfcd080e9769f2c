// Pixels as a model takes them: bytes scaled to [0, 1] (byte / 255, as the seed does),
// float32 images as they are. Used by both model paths' gathers, the evaluation and
// the checkpoint predictor.

/** Pixels as the data came: bytes (scaled by 1/255 when read) or float32 (used as they are). */
export type Images = Uint8Array | Float32Array;

/**
 * A byte's pixel value as the model takes it: byte / 255 rounded to float32, exactly
 * what storing `byte / 255` into a Float32Array gives (the seed's scaling), read from a
 * table instead of divided per pixel.
 */
export const BYTE_SCALE = Float32Array.from({ length: 256 }, (_, b) => b / 255);

/**
 * Rows [start, start + rows) of a split's images into `out` as the model takes them.
 * Returns `out`.
 */
export function scaledRows(images: Images, start: number, rows: number, inputSize: number, out: Float32Array): Float32Array {
  const from = images.subarray(start * inputSize, (start + rows) * inputSize);
  if (from instanceof Uint8Array) for (let i = 0; i < from.length; i++) out[i] = BYTE_SCALE[from[i]];
  else out.set(from);
  return out;
}
