// DepthwiseConv2dNativeBackpropFilter / Input, missing from the wasm backend:
// DepthwiseConv2D and SeparableConv2D could not train.
//   Input   a DepthwiseConv2dNative (XNNPACK) of dy, dilated by the stride, with the
//           filter turned by 180 degrees, one channel per (input channel, multiplier);
//           then the multipliers of each input channel summed. The loop over the heap
//           stays for pads wider than the filter.
//   Filter  a loop over the heap, tap by tap, along dy's and the input's rows in memory
//           order, the channels innermost (adjacent in NHWC), into float64 sums.
import * as tf from '@tensorflow/tfjs-core';
import type { Args, Info, WasmBackend } from './backend.js';
import { call, Temps } from './backend.js';
import { spreadGradient } from './conv.js';

type DepthwiseAttrs = { strides: [number, number] | number; dilations?: [number, number] | number; pad: 'valid' | 'same' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' };

function depthwiseInfo(name: string, xShape: number[], filterShape: number[], attrs: DepthwiseAttrs): tf.backend_util.Conv2DInfo {
  const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number],
    attrs.strides, attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode, true);
  // As TF.js's own gradient of depthwiseConv2d requires (and the cpu kernel assumes).
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) throw new Error(`${name} on wasm: dilations other than 1 are not supported`);
  return info;
}

/** dW[r, c, i, m] = sum over b, y, x of input[b, y*s + r - padTop, x*s + c - padLeft, i] * dy[b, y, x, i*M + m]. */
export function depthwiseBackpropFilter({ inputs, backend, attrs }: Args<{ x: Info; dy: Info }, DepthwiseAttrs & { filterShape: [number, number, number, number] }>): Info {
  const { x, dy } = inputs;
  const info = depthwiseInfo('DepthwiseConv2dNativeBackpropFilter', x.shape, attrs.filterShape, attrs);
  const { batchSize, inHeight, inWidth, inChannels: ci, outChannels: co, filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const [, dyH, dyW] = dy.shape; // dy's own rows and columns (see conv.ts)
  const rows = Math.min(dyH, info.outHeight);
  const cols = Math.min(dyW, info.outWidth);
  const chMul = co / ci;
  const sums = new Float64Array(fh * fw * co); // [r, s, i, m], as the filter
  const acc = new Float64Array(co);
  const xv = backend.typedArrayFromHeap(x);
  const dyv = backend.typedArrayFromHeap(dy);
  for (let r = 0; r < fh; r++) {
    for (let s = 0; s < fw; s++) {
      // The output columns whose tap column s is inside the input: x*sw + s - left in [0, inWidth).
      const xMin = Math.min(cols, Math.max(0, Math.ceil((left - s) / sw)));
      const xMax = Math.max(xMin, Math.min(cols, Math.ceil((inWidth + left - s) / sw)));
      acc.fill(0);
      for (let b = 0; b < batchSize; b++) {
        for (let y = 0; y < rows; y++) {
          const row = y * sh + r - top;
          if (row < 0 || row >= inHeight) continue;
          const dyRow = ((b * dyH + y) * dyW + xMin) * co;
          const xRow = ((b * inHeight + row) * inWidth + xMin * sw + s - left) * ci;
          // Channel by channel along the row: the sum stays in a register (a sum per
          // channel in memory, updated in turn, ran at ~2 ns a product).
          for (let i = 0; i < ci; i++) {
            for (let m = 0; m < chMul; m++) {
              let sum = 0;
              for (let xc = xMin, xAt = xRow + i, dyAt = dyRow + i * chMul + m; xc < xMax; xc++, xAt += sw * ci, dyAt += co) sum += xv[xAt] * dyv[dyAt];
              acc[i * chMul + m] += sum;
            }
          }
        }
      }
      sums.set(acc, (r * fw + s) * co);
    }
  }
  const out = backend.makeOutput(info.filterShape, 'float32');
  backend.typedArrayFromHeap(out).set(sums);
  return out;
}

/**
 * dX[b, p, q, i] = sum over m, r, s of dy[b, (p + top - r)/sh, (q + left - s)/sw, i*M + m] * W[r, s, i, m]
 * (where the division is exact): a depthwise convolution of dy spread out by the
 * strides, padded so the output is the input's size, with W turned by 180 degrees as a
 * [fh, fw, i*M + m, 1] filter; then the M channels of each i summed.
 */
export function depthwiseBackpropInput(args: Args<{ dy: Info; filter: Info }, DepthwiseAttrs & { inputShape: [number, number, number, number] }>): Info {
  const { inputs: { dy, filter }, backend, attrs } = args;
  const info = depthwiseInfo('DepthwiseConv2dNativeBackpropInput', attrs.inputShape, filter.shape, attrs);
  const { inHeight, inWidth, inChannels: ci, outChannels: co, batchSize } = info;
  const temps = new Temps(backend);
  try {
    const spread = spreadGradient(dy, info, backend, temps);
    if (!spread) return depthwiseBackpropInputByLoop(args);
    const perChannel = call('DepthwiseConv2dNative', backend, { x: spread.dy, filter: temps.keep(turnedDepthwiseFilter(filter, backend)) }, {
      strides: [1, 1], pad: spread.pad as unknown as number, dilations: [1, 1],
    });
    const chMul = co / ci;
    if (chMul === 1) return perChannel;
    temps.keep(perChannel);
    const out = backend.makeOutput([batchSize, inHeight, inWidth, ci], 'float32');
    const src = backend.typedArrayFromHeap(perChannel);
    const dst = backend.typedArrayFromHeap(out);
    for (let p = 0; p < dst.length; p++) {
      let sum = 0;
      for (let m = 0; m < chMul; m++) sum += src[p * chMul + m];
      dst[p] = sum;
    }
    return out;
  } finally {
    temps.free();
  }
}

/** [fh, fw, i, M] -> [fh, fw, i*M, 1], turned by 180 degrees. */
function turnedDepthwiseFilter(filter: Info, backend: WasmBackend): Info {
  const [fh, fw, ci, chMul] = filter.shape;
  const out = backend.makeOutput([fh, fw, ci * chMul, 1], 'float32');
  const src = backend.typedArrayFromHeap(filter);
  const dst = backend.typedArrayFromHeap(out);
  const n = ci * chMul;
  for (let r = 0; r < fh; r++) {
    for (let s = 0; s < fw; s++) dst.set(src.subarray(((fh - 1 - r) * fw + (fw - 1 - s)) * n, ((fh - 1 - r) * fw + (fw - 1 - s) + 1) * n), (r * fw + s) * n);
  }
  return out;
}

/** The same as a loop over the heap: dX[b, y, x, i] = sum over the filter taps and multipliers that read input[b, y, x, i]. */
function depthwiseBackpropInputByLoop({ inputs, backend, attrs }: Args<{ dy: Info; filter: Info }, DepthwiseAttrs & { inputShape: [number, number, number, number] }>): Info {
  const { dy, filter } = inputs;
  const info = depthwiseInfo('DepthwiseConv2dNativeBackpropInput', attrs.inputShape, filter.shape, attrs);
  const out = backend.makeOutput(info.inShape, 'float32');
  const [dyv, fv, dx] = [dy, filter, out].map((t) => backend.typedArrayFromHeap(t));
  const { batchSize, filterHeight, filterWidth, inChannels: ci, inHeight, inWidth, outChannels: co, outHeight, outWidth, strideHeight: sh, strideWidth: sw } = info;
  const topPad = filterHeight - 1 - info.padInfo.top;
  const leftPad = filterWidth - 1 - info.padInfo.left;
  const chMul = co / ci;
  for (let b = 0; b < batchSize; b++) {
    for (let d1 = 0; d1 < ci; d1++) {
      for (let xR = 0; xR < inHeight; xR++) {
        const xRCorner = xR - topPad;
        const yRMin = Math.max(0, Math.ceil(xRCorner / sh));
        const yRMax = Math.min(outHeight, (filterHeight + xRCorner) / sh);
        for (let xC = 0; xC < inWidth; xC++) {
          const xCCorner = xC - leftPad;
          const yCMin = Math.max(0, Math.ceil(xCCorner / sw));
          const yCMax = Math.min(outWidth, (filterWidth + xCCorner) / sw);
          let sum = 0;
          for (let yR = yRMin; yR < yRMax; yR++) {
            const wR = yR * sh - xRCorner;
            for (let yC = yCMin; yC < yCMax; yC++) {
              const wC = yC * sw - xCCorner;
              const dyAt = ((b * outHeight + yR) * outWidth + yC) * co + d1 * chMul;
              const fAt = (((filterHeight - 1 - wR) * filterWidth + (filterWidth - 1 - wC)) * ci + d1) * chMul;
              for (let m = 0; m < chMul; m++) sum += dyv[dyAt + m] * fv[fAt + m];
            }
          }
          dx[((b * inHeight + xR) * inWidth + xC) * ci + d1] = sum;
        }
      }
    }
  }
  return out;
}


