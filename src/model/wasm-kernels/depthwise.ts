// DepthwiseConv2dNativeBackpropFilter / Input, missing from the wasm backend:
// DepthwiseConv2D and SeparableConv2D could not train. Loops over the heap.
import * as tf from '@tensorflow/tfjs-core';
import type { Args, Info } from './backend.js';

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
  const out = backend.makeOutput(info.filterShape, 'float32');
  const [xv, dyv, dw] = [x, dy, out].map((t) => backend.typedArrayFromHeap(t));
  const { filterHeight, filterWidth, inChannels: ci, outChannels: co } = info;
  const chMul = co / ci;
  for (let wR = 0; wR < filterHeight; wR++) {
    for (let wC = 0; wC < filterWidth; wC++) {
      for (let d2 = 0; d2 < co; d2++) {
        const d1 = Math.trunc(d2 / chMul);
        dw[((wR * filterWidth + wC) * ci + d1) * chMul + (d2 % chMul)] = filterTap(info, dy.shape, xv, dyv, wR, wC, d1, d2);
      }
    }
  }
  return out;
}

/** dX[b, y, x, i] = sum over the filter taps and multipliers that read input[b, y, x, i]. */
export function depthwiseBackpropInput({ inputs, backend, attrs }: Args<{ dy: Info; filter: Info }, DepthwiseAttrs & { inputShape: [number, number, number, number] }>): Info {
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

/**
 * One filter tap's gradient: the sum over the batch and the output positions of
 * input[b, y*s + wR - padTop, x*s + wC - padLeft, d1] * dy[b, y, x, d2] (the cpu
 * kernel's loop, over flat heap arrays). Shared by the convolution and the depthwise one.
 */
function filterTap(info: tf.backend_util.Conv2DInfo, dyShape: number[], xv: ArrayLike<number>, dyv: ArrayLike<number>, wR: number, wC: number, d1: number, d2: number): number {
  const { strideHeight: sh, strideWidth: sw, inHeight, inWidth, inChannels: ci, outChannels: co, outHeight, outWidth, batchSize } = info;
  const [, dyH, dyW] = dyShape; // dy's own rows and columns (see conv2DBackpropFilter)
  const { top, left } = info.padInfo;
  const yRMin = Math.max(0, Math.ceil((top - wR) / sh));
  const yRMax = Math.min(outHeight, (inHeight + top - wR) / sh);
  const yCMin = Math.max(0, Math.ceil((left - wC) / sw));
  const yCMax = Math.min(outWidth, (inWidth + left - wC) / sw);
  let sum = 0;
  for (let b = 0; b < batchSize; b++) {
    for (let yR = yRMin; yR < yRMax; yR++) {
      const xR = wR + yR * sh - top;
      for (let yC = yCMin; yC < yCMax; yC++) {
        const xC = wC + yC * sw - left;
        sum += xv[((b * inHeight + xR) * inWidth + xC) * ci + d1] * dyv[((b * dyH + yR) * dyW + yC) * co + d2];
      }
    }
  }
  return sum;
}

