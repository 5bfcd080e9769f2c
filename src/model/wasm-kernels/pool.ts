// The gradients of 2-D pooling on the wasm backend, as JS loops over the heap, window
// by window, each input value read once per window that holds it.
//   MaxPoolGrad   the stock one is wrong: its running maximum starts at FLT_MIN, not
//                 -Infinity, so a window whose values are all <= 0 loses its gradient
//                 (docs/internals.md, engine decision 10). As the cpu kernel: the first largest
//                 value of a window (in row-major order) takes the window's gradient.
//                 The maximum is the forward's output, checked against the window
//                 (the stock wasm MaxPool writes wrong rows when the forward rounds up).
//   AvgPoolGrad   as the cpu kernel: every input value of a window gets the window's
//                 gradient divided by the filter's size (padding included).
// Both read dy by its own shape (see conv.ts: a forward that rounded up makes a larger dy).
import * as tf from '@tensorflow/tfjs-core';
import type { Args, Info } from './backend.js';


export function maxPoolGrad({ inputs, backend, attrs }: Args<{ dy: Info; input: Info; output: Info }, tf.MaxPoolGradAttrs>): Info {
  const { dy, input, output } = inputs;
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const out = backend.makeOutput(input.shape, 'float32');
  const xv = backend.typedArrayFromHeap(input);
  const yv = backend.typedArrayFromHeap(output);
  const dyv = backend.typedArrayFromHeap(dy);
  const dx = backend.typedArrayFromHeap(out);
  dx.fill(0);
  const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth, strideHeight, strideWidth, effectiveFilterHeight, effectiveFilterWidth } = info;
  const { top, left } = info.padInfo;
  const [, dyH, dyW] = dy.shape;
  const rowStride = inWidth * c;
  for (let b = 0; b < batchSize; b++) {
    for (let y = 0; y < Math.min(outHeight, dyH); y++) {
      // The input rows and columns the window covers: [r0, r1) x [c0, c1).
      const r0 = Math.max(0, y * strideHeight - top);
      const r1 = Math.min(inHeight, y * strideHeight - top + effectiveFilterHeight);
      for (let x = 0; x < Math.min(outWidth, dyW); x++) {
        const c0 = Math.max(0, x * strideWidth - left);
        const c1 = Math.min(inWidth, x * strideWidth - left + effectiveFilterWidth);
        const at = ((b * dyH + y) * dyW + x) * c;
        const corner = ((b * inHeight + r0) * inWidth + c0) * c;
        for (let d = 0; d < c; d++) {
          // The forward's output is the window's maximum: the first tap equal to it takes
          // the gradient. Arithmetic, not a branch per tap (which tap holds the maximum is
          // as good as random, and a mispredicted branch per tap cost more than the rest
          // of the loop: 2.3 ms against 0.76 ms for [64,26,26,8]). The same pass checks
          // that no tap exceeds it: the stock wasm MaxPool writes wrong rows when the
          // forward rounds up (dimRoundingMode 'ceil'), and NaN or -Infinity need the cpu
          // kernel's comparisons; such a window takes the cpu kernel's loop instead.
          const max = yv[at + d];
          let free = 1;
          let above = 0;
          let chosen = 0;
          for (let row = r0, p0 = corner + d; row < r1; row++, p0 += rowStride) {
            for (let col = c0, p = p0; col < c1; col++, p += c) {
              const v = xv[p];
              const take = +(v === max) & free;
              free ^= take;
              above |= +(v > max);
              chosen += take * p;
            }
          }
          if (free === 1 || above === 1 || max === Number.NEGATIVE_INFINITY) {
            chosen = -1;
            let best = Number.NEGATIVE_INFINITY;
            for (let row = r0, p0 = corner + d; row < r1; row++, p0 += rowStride) {
              for (let col = c0, p = p0; col < c1; col++, p += c) {
                if (xv[p] > best) {
                  best = xv[p];
                  chosen = p;
                }
              }
            }
          }
          // Added once, to the chosen value only: an infinite dy stays where it belongs.
          if (chosen >= 0) dx[chosen] += dyv[at + d];
        }
      }
    }
  }
  return out;
}

export function avgPoolGrad({ inputs, backend, attrs }: Args<{ dy: Info; input: Info }, tf.AvgPoolGradAttrs>): Info {
  const { dy, input } = inputs;
  // As the cpu kernel: no rounding mode (TF.js's avgPool gradient passes none).
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad);
  const out = backend.makeOutput(input.shape, 'float32');
  const dyv = backend.typedArrayFromHeap(dy);
  const dx = backend.typedArrayFromHeap(out);
  dx.fill(0);
  const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth, strideHeight, strideWidth, effectiveFilterHeight, effectiveFilterWidth } = info;
  const { top, left } = info.padInfo;
  const [, dyH, dyW] = dy.shape;
  const rowStride = inWidth * c;
  const scale = 1 / (info.filterHeight * info.filterWidth);
  for (let b = 0; b < batchSize; b++) {
    for (let y = 0; y < Math.min(outHeight, dyH); y++) {
      const r0 = Math.max(0, y * strideHeight - top);
      const r1 = Math.min(inHeight, y * strideHeight - top + effectiveFilterHeight);
      for (let x = 0; x < Math.min(outWidth, dyW); x++) {
        const c0 = Math.max(0, x * strideWidth - left);
        const c1 = Math.min(inWidth, x * strideWidth - left + effectiveFilterWidth);
        const at = ((b * dyH + y) * dyW + x) * c;
        for (let row = r0, p0 = ((b * inHeight + r0) * inWidth + c0) * c; row < r1; row++, p0 += rowStride) {
          for (let col = c0, p = p0; col < c1; col++, p += c) {
            for (let d = 0; d < c; d++) dx[p + d] += dyv[at + d] * scale;
          }
        }
      }
    }
  }
  return out;
}
