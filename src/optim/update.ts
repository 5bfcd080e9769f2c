// The update half of a step, as pure functions over Float32Arrays: reduce the shards'
// gradient sums into one gradient and apply the optimiser to the flat weights (the
// serial reference, reduceGradients + optimizerStep), and the same over one slice of the
// parameters, as each worker's loop runs it (updateSlice).
import { optimizerStep } from './optimizers.js';
import type { OptimizerConfig } from './optimizers.js';

/**
 * grad = (slab_0 + slab_1 + ... ) / normaliser, summed in shard-index order so the
 * result does not depend on which shard finished first. Workers return SUMS and we
 * divide once by the GLOBAL normaliser: a mean of shard means would weight rows of
 * small shards more and break equivalence with the single-process gradient.
 */
export function reduceGradients(slabs: readonly Float32Array[], normaliser: number, out: Float32Array): void {
  const n = out.length;
  const inv = 1 / normaliser;
  const first = slabs[0];
  if (slabs.length === 1) {
    for (let i = 0; i < n; i++) out[i] = first[i] * inv;
    return;
  }
  if (slabs.length === 2) {
    // The common case (2 workers) as one fused pass.
    const second = slabs[1];
    for (let i = 0; i < n; i++) out[i] = (first[i] + second[i]) * inv;
    return;
  }
  // More slabs: two adds a pass, each rounded to float32 (Math.fround) as storing it
  // after each add would, and the last pass scales: the bits of one add a pass, in about
  // half its time (`npm run bench:loops`, 4 slabs: 0.139 against 0.265 ms).
  const f = Math.fround;
  const second = slabs[1];
  for (let i = 0; i < n; i++) out[i] = f(first[i] + second[i]);
  let k = 2;
  for (; k + 2 < slabs.length; k += 2) {
    const a = slabs[k];
    const b = slabs[k + 1];
    for (let i = 0; i < n; i++) out[i] = f(f(out[i] + a[i]) + b[i]);
  }
  const a = slabs[k];
  if (k + 2 === slabs.length) {
    const b = slabs[k + 1];
    for (let i = 0; i < n; i++) out[i] = f(f(out[i] + a[i]) + b[i]) * inv;
  } else {
    for (let i = 0; i < n; i++) out[i] = f(out[i] + a[i]) * inv;
  }
}

/** What the loss sum is divided by (--normalize): the batch's rows, or its weight sum (condition: the built-in task's name for it). */
export const NORMALIZE_MODES = ['batch', 'condition', 'weight'] as const;
export type Normalize = typeof NORMALIZE_MODES[number];

/** The global normaliser of `rows` rows: their count, or their weight sum (the built-in task's: its condition-1 rows); 1 if that is 0. */
export function normaliserOf(normalize: Normalize, rows: number, weightSum: number): number {
  return normalize === 'batch' ? rows : weightSum === 0 ? 1 : weightSum;
}

/** One slot of the optimiser's state: the weights and the optimiser's state vectors after some steps. */
export interface ParamSlot {
  w: Float32Array;
  s: readonly Float32Array[];
}

/**
 * A worker's update phase, over its slice [lo, hi) of the parameters: the gradient
 * reduced from every slab in slab order and divided once by the global normaliser
 * (reduceGradients, into `grad`'s slice), then the optimiser's step `t` (optimizerStep)
 * on slot `to`, which first takes slot `from`'s values: the serial code itself over a
 * slice, so the weights are bit-identical to reducing and updating the whole vector in
 * one thread (tested in test/unit/optimizers.test.ts). With `to` null only the reduced
 * gradient is written (a single step for the oracle tests). `npm run bench:loops`
 * measured a hand-fused single pass 1.4-2x slower than these two passes and the copies.
 */
export function updateSlice(
  cfg: OptimizerConfig, t: number, slabs: readonly Float32Array[], normaliser: number, lo: number, hi: number,
  from: ParamSlot, to: ParamSlot | null, grad: Float32Array,
): void {
  reduceSlice(slabs, normaliser, lo, hi, grad);
  if (to) applySlice(cfg, t, lo, hi, from, to, grad.subarray(lo, hi));
}

/** The reduce half of updateSlice: slice [lo, hi) of the reduced gradient into `grad`. */
export function reduceSlice(slabs: readonly Float32Array[], normaliser: number, lo: number, hi: number, grad: Float32Array): void {
  reduceGradients(slabs.map((s) => s.subarray(lo, hi)), normaliser, grad.subarray(lo, hi));
}

/** The update half of updateSlice: slot `to` takes slot `from`'s slice, then the optimiser's step `t` with `g`, the slice's gradient. */
export function applySlice(cfg: OptimizerConfig, t: number, lo: number, hi: number, from: ParamSlot, to: ParamSlot, g: Float32Array): void {
  const w = to.w.subarray(lo, hi);
  w.set(from.w.subarray(lo, hi));
  const state = to.s.map((s, k) => {
    const slice = s.subarray(lo, hi);
    slice.set(from.s[k].subarray(lo, hi));
    return slice;
  });
  optimizerStep(cfg, t, g, w, state);
}

/**
 * Gradient clipping by global norm (Keras' global_clipnorm, tf.clipByGlobalNorm): the
 * factor clipNorm / max(norm, clipNorm) of the whole reduced gradient `grad`, its norm
 * summed in float64 in index order: every worker computes the same factor, for any
 * worker or thread count. 1 when the norm is within clipNorm.
 */
export function clipFactor(grad: Float32Array, clipNorm: number): { norm: number; factor: number } {
  let sum = 0;
  for (let i = 0; i < grad.length; i++) sum += grad[i] * grad[i];
  const norm = Math.sqrt(sum);
  return { norm, factor: norm > clipNorm ? clipNorm / norm : 1 };
}
