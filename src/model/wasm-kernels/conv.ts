// The gradients of Conv2D on the wasm backend, composed so that XNNPACK does the
// arithmetic (tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter at all, and its
// Conv2DBackpropInput is a plain C loop, no XNNPACK: docs/internals.md, engine decision 10).
//   Conv2DBackpropInput   a stride-1 Conv2D (XNNPACK) of dy, dilated by the stride in a
//                         JS copy when the stride is above 1, padded so the output is
//                         the input's size, with the filter turned by 180 degrees and
//                         its channel axes swapped.
//   Conv2DBackpropFilter  stride 1: a Conv2D (XNNPACK) of the input with its channels to
//                         the front and dy as the filter. Other strides: im2col then one
//                         plain matmul (XNNPACK): the input's patches written by a JS loop
//                         straight in the transposed layout [taps x channels, positions],
//                         times dy as [positions, out]. Both hand XNNPACK dy as the
//                         weights it packs (~2.5 ns a value, every call: dy is new each
//                         step); with stride 1 the convolution was as fast or faster over
//                         six layer shapes (fresh tensors each call, medians: 1.68 against
//                         1.62 ms for [64,28,28,1] -> 8, 1.20 against 1.51 ms for
//                         [64,13,13,8] -> 16, 5.57 against 6.46 ms for [64,32,32,3] -> 16),
//                         and the stride-1 shortcut of the previous loop was already it.
// Both read dy by its own shape: TF.js's gradients do not pass the forward's
// dimRoundingMode, so with a numeric pad and rounding up dy can hold a row or column
// more than the kernel's own sizes say; as the cpu kernels, the extra ones are unused.
import * as tf from '@tensorflow/tfjs-core';
import type { Args, Info, WasmBackend } from './backend.js';
import { call, reshaped, Temps } from './backend.js';

type ConvInfo = tf.backend_util.Conv2DInfo;

/** The stock kernel is kept for what these do not take: NCHW, and pads wider than the filter. */
export function conv2DBackpropInput(stock: tf.KernelFunc) {
  return (args: Args<{ dy: Info; filter: Info }, tf.Conv2DBackpropInputAttrs>): Info => {
    const { inputs: { dy, filter }, backend, attrs } = args;
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
    if (dataFormat === 'NCHW') return stock(args as never) as Info;
    const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode);
    const temps = new Temps(backend);
    try {
      const spread = spreadGradient(dy, info, backend, temps);
      if (!spread) return stock(args as never) as Info;
      return call('Conv2D', backend, { x: spread.dy, filter: temps.keep(flippedFilter(filter, backend)) }, {
        strides: [1, 1], pad: spread.pad as unknown as number, dataFormat: 'NHWC', dilations: [1, 1],
      });
    } finally {
      temps.free();
    }
  };
}

/**
 * The input's gradient of a convolution as a stride-1 convolution of dy: dy spread out
 * by the strides (zeros between its values; dy itself at stride 1) and the padding that
 * makes the output the input's size. Null when that padding would be negative (pads
 * wider than the filter), which the callers leave to a loop. Shared by Conv2D and
 * DepthwiseConv2D.
 */
export function spreadGradient(dy: Info, info: ConvInfo, backend: WasmBackend, temps: Temps): { dy: Info; pad: number[][] } | null {
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, inHeight, inWidth } = info;
  // The rows and columns of dy the forward produced (see the file's comment).
  const rows = Math.min(dy.shape[1], info.outHeight);
  const cols = Math.min(dy.shape[2], info.outWidth);
  const top = fh - 1 - info.padInfo.top;
  const left = fw - 1 - info.padInfo.left;
  const bottom = inHeight + fh - 1 - ((rows - 1) * sh + 1) - top;
  const right = inWidth + fw - 1 - ((cols - 1) * sw + 1) - left;
  if (top < 0 || left < 0 || bottom < 0 || right < 0 || rows <= 0 || cols <= 0) return null;
  const same = sh === 1 && sw === 1 && rows === dy.shape[1] && cols === dy.shape[2];
  return { dy: same ? dy : temps.keep(dilated(dy, rows, cols, sh, sw, backend)), pad: [[0, 0], [top, bottom], [left, right], [0, 0]] };
}

/** [fh, fw, in, out] -> [fh, fw, out, in], turned by 180 degrees: f'[r, s, o, i] = f[fh-1-r, fw-1-s, i, o]. */
function flippedFilter(filter: Info, backend: WasmBackend): Info {
  const [fh, fw, ci, co] = filter.shape;
  const out = backend.makeOutput([fh, fw, co, ci], 'float32');
  const src = backend.typedArrayFromHeap(filter);
  const dst = backend.typedArrayFromHeap(out);
  for (let r = 0; r < fh; r++) {
    for (let s = 0; s < fw; s++) {
      const from = ((fh - 1 - r) * fw + (fw - 1 - s)) * ci * co;
      const to = (r * fw + s) * co * ci;
      for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) dst[to + o * ci + i] = src[from + i * co + o];
    }
  }
  return out;
}

/** The first rows x cols of dy ([b, h, w, c]) spread out by the strides, zeros between: [b, (rows-1)*sh+1, (cols-1)*sw+1, c]. */
export function dilated(dy: Info, rows: number, cols: number, sh: number, sw: number, backend: WasmBackend): Info {
  const [batch, dyH, dyW, c] = dy.shape;
  const h = (rows - 1) * sh + 1;
  const w = (cols - 1) * sw + 1;
  const out = backend.makeOutput([batch, h, w, c], 'float32');
  const src = backend.typedArrayFromHeap(dy);
  const dst = backend.typedArrayFromHeap(out);
  dst.fill(0);
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++) {
        const from = ((b * dyH + y) * dyW + x) * c;
        dst.set(src.subarray(from, from + c), ((b * h + y * sh) * w + x * sw) * c);
      }
    }
  }
  return out;
}

/**
 * dW[r, s, i, o] = sum over b, y, x of input[b, y*sh + r - top, x*sw + s - left, i] * dy[b, y, x, o]:
 * the input's patches as a [r, s, i] x [b, y, x] matrix (zeros where a patch leaves the
 * input), times dy as [b, y, x] x [o].
 */
export function conv2DBackpropFilter({ inputs, backend, attrs }: Args<{ x: Info; dy: Info }, tf.Conv2DBackpropFilterAttrs>): Info {
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  if (dataFormat !== undefined && dataFormat !== 'NHWC') throw new Error(`Conv2DBackpropFilter on wasm: dataFormat ${dataFormat} is not supported (use NHWC)`);
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode);
  const rows = Math.min(dy.shape[1], info.outHeight);
  const cols = Math.min(dy.shape[2], info.outWidth);
  const { batchSize, outChannels } = info;
  const positions = batchSize * rows * cols;
  const taps = info.filterHeight * info.filterWidth * info.inChannels;
  const sized = rows === dy.shape[1] && cols === dy.shape[2];
  if (info.strideHeight === 1 && info.strideWidth === 1 && sized) {
    const r = filterGradByConv(x, dy, info, backend);
    if (r) return r;
  }
  const temps = new Temps(backend);
  try {
    const patches = temps.keep(patchesTransposed(x, info, rows, cols, backend));
    const dyRows = sized ? dy : temps.keep(cropped(dy, rows, cols, backend));
    const dw = call('BatchMatMul', backend, { a: reshaped(patches, [1, taps, positions]), b: reshaped(dyRows, [1, positions, outChannels]) }, { transposeA: false, transposeB: false });
    return reshaped(dw, filterShape);
  } finally {
    temps.free();
  }
}

/**
 * With stride 1: dW is a valid Conv2D of the input with its channels to the front
 * ([in, h, w, batch], padded as the forward was) and dy as the filter ([rows, cols,
 * batch, out]), giving [in, fh, fw, out]. Null when the forward's padding does not
 * follow from the sizes (a numeric pad sized down by rounding).
 */
function filterGradByConv(x: Info, dy: Info, info: ConvInfo, backend: WasmBackend): Info | null {
  // The padding the output actually used: for a numeric pad TF.js sizes the output as if
  // the bottom and right pads were smaller, so they follow from the output's size.
  const { top, left } = info.padInfo;
  const bottom = info.outHeight - 1 + info.filterHeight - info.inHeight - top;
  const right = info.outWidth - 1 + info.filterWidth - info.inWidth - left;
  if (bottom < 0 || right < 0) return null;
  const temps = new Temps(backend);
  try {
    const xT = temps.keep(call('Transpose', backend, { x }, { perm: [3, 1, 2, 0] }));
    const dyT = temps.keep(call('Transpose', backend, { x: dy }, { perm: [1, 2, 0, 3] }));
    const pad = [[0, 0], [top, bottom], [left, right], [0, 0]] as unknown as number;
    const r = temps.keep(call('Conv2D', backend, { x: xT, filter: dyT }, { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [1, 1] }));
    return call('Transpose', backend, { x: r }, { perm: [1, 2, 0, 3] });
  } finally {
    temps.free();
  }
}

/**
 * im2col, transposed: [fh * fw * in, batch * rows * cols], row (r, s, i) holding
 * input[b, y*sh + r - top, x*sw + s - left, i] at column (b, y, x), 0 outside the input.
 * The loops run tap by tap and output row by output row, so the input row being read
 * (a few KB) stays in the cache while its channels are copied out one by one; the
 * innermost loop is a plain strided copy (a loop that read one channel of the whole
 * input per row of the result ran 2x slower, one that tested every element 3.5x).
 */
function patchesTransposed(x: Info, info: ConvInfo, rows: number, cols: number, backend: WasmBackend): Info {
  const { batchSize, inHeight, inWidth, inChannels: ci, filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const positions = batchSize * rows * cols;
  const out = backend.makeOutput([fh * fw * ci, positions], 'float32');
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const step = sw * ci;
  for (let r = 0; r < fh; r++) {
    for (let s = 0; s < fw; s++) {
      const tap = (r * fw + s) * ci * positions;
      // The output columns whose patch column s is inside the input: x*sw + s - left in [0, inWidth).
      const xMin = Math.min(cols, Math.max(0, Math.ceil((left - s) / sw)));
      const xMax = Math.max(xMin, Math.min(cols, Math.ceil((inWidth + left - s) / sw)));
      for (let b = 0; b < batchSize; b++) {
        for (let y = 0; y < rows; y++) {
          const row = y * sh + r - top;
          const start = tap + (b * rows + y) * cols; // row (r, s, 0), column (b, y, 0)
          if (row < 0 || row >= inHeight) {
            for (let i = 0; i < ci; i++) dst.fill(0, start + i * positions, start + i * positions + cols);
            continue;
          }
          const base = ((b * inHeight + row) * inWidth + xMin * sw + s - left) * ci;
          for (let i = 0; i < ci; i++) {
            const at = start + i * positions;
            if (xMin > 0) dst.fill(0, at, at + xMin);
            for (let xc = xMin, from = base + i; xc < xMax; xc++, from += step) dst[at + xc] = src[from];
            if (xMax < cols) dst.fill(0, at + xMax, at + cols);
          }
        }
      }
    }
  }
  return out;
}

/** The first rows x cols of dy, contiguous. */
function cropped(dy: Info, rows: number, cols: number, backend: WasmBackend): Info {
  const [batch, h, w, c] = dy.shape;
  const out = backend.makeOutput([batch, rows, cols, c], 'float32');
  const src = backend.typedArrayFromHeap(dy);
  const dst = backend.typedArrayFromHeap(out);
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < rows; y++) {
      const from = ((b * h + y) * w) * c;
      dst.set(src.subarray(from, from + cols * c), ((b * rows + y) * cols) * c);
    }
  }
  return out;
}
