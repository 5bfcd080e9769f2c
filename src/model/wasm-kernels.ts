// Kernels that the wasm backend of tfjs 4.22 lacks or gets wrong, registered on it under
// their own names, so that stock TF.js gradients use them with no change to a model
// (../shared/DESIGN.md, decision 10):
//   Conv2DBackpropFilter  missing ("Kernel 'Conv2DBackpropFilter' not registered"): no
//                         Conv2D could train. Stride 1: a Conv2D of the transposed input
//                         and gradient, on XNNPACK; other strides: a loop over the heap.
//   MaxPoolGrad           wrong: its running maximum starts at FLT_MIN, not -Infinity,
//                         so a window whose values are all <= 0 loses its gradient.
//   UnsortedSegmentSum    missing: the gradient of Embedding.
//   DepthwiseConv2dNativeBackpropFilter / Input   missing: DepthwiseConv2D and
//                         SeparableConv2D could not train. Loops over the heap.
//   BatchMatMul           slow: XNNPACK serves only untransposed operands; a transposed
//                         one (every Dense weight and input gradient under autodiff)
//                         ran a scalar loop, 3.61 ms against 0.57 ms with an explicit
//                         Transpose first (x^T.dy, B=128; ../shared/DESIGN.md, decision
//                         10). The wrapper transposes first.
// Each is tested against the cpu backend's kernel (test/wasm-kernels.test.ts).
import * as tf from '@tensorflow/tfjs-core';

type Info = tf.TensorInfo;

/** What these kernels use of the wasm backend (BackendWasm): outputs in its heap, read in place. */
interface WasmBackend {
  /** May grow the wasm memory, which detaches every heap view taken before: take views after it. */
  makeOutput(shape: number[], dtype: tf.DataType): Info;
  typedArrayFromHeap(t: Info): Float32Array | Int32Array;
  disposeData(dataId: tf.DataId): boolean;
}

let registered = false;

/** Registers the replacements on the wasm backend, once per thread. */
export function registerWasmKernels(): void {
  if (registered) return;
  const matMul = tf.getKernel('BatchMatMul', 'wasm');
  if (!matMul) throw new Error('the wasm backend has no BatchMatMul kernel');
  for (const [kernelName, kernelFunc] of [
    ['BatchMatMul', transposingMatMul(matMul.kernelFunc)],
    ['Conv2DBackpropFilter', conv2DBackpropFilter],
    ['MaxPoolGrad', maxPoolGrad],
    ['UnsortedSegmentSum', unsortedSegmentSum],
    ['DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilter],
    ['DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInput],
  ] as const) {
    // The original's set-up (BatchMatMul binds its wasm function there) runs when the
    // backend initialises: registration happens before tf.setBackend.
    const setupFunc = tf.getKernel(kernelName, 'wasm')?.setupFunc;
    if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc, setupFunc });
  }
  registered = true;
}

/**
 * BatchMatMul with its transposes done first by the Transpose kernel, then the plain
 * (XNNPACK) product: the same values, summed in XNNPACK's order instead of the loop's.
 */
function transposingMatMul(plain: tf.KernelFunc) {
  return ({ inputs, backend, attrs }: Args<{ a: Info; b: Info }, tf.BatchMatMulAttrs>): Info => {
    const { transposeA, transposeB } = attrs;
    if (!transposeA && !transposeB) return plain({ inputs, backend: backend as unknown as tf.KernelBackend, attrs: attrs as unknown as tf.NamedAttrMap }) as Info;
    const temps: Info[] = [];
    const swapLast = (x: Info) => {
      const perm = x.shape.map((_, i) => i);
      const r = perm.length;
      [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
      const t = call('Transpose', backend, { x }, { perm });
      temps.push(t);
      return t;
    };
    const a = transposeA ? swapLast(inputs.a) : inputs.a;
    const b = transposeB ? swapLast(inputs.b) : inputs.b;
    try {
      return plain({ inputs: { a, b }, backend: backend as unknown as tf.KernelBackend, attrs: { ...attrs, transposeA: false, transposeB: false } }) as Info;
    } finally {
      for (const t of temps) backend.disposeData(t.dataId);
    }
  };
}

interface Args<I, A> {
  inputs: I;
  backend: WasmBackend;
  attrs: A;
}

/** Runs another wasm kernel from inside a kernel, as TF.js kernels call each other. */
function call(name: string, backend: WasmBackend, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): Info {
  const config = tf.getKernel(name, 'wasm');
  if (!config) throw new Error(`the wasm backend has no ${name} kernel`);
  return config.kernelFunc({ inputs, backend: backend as unknown as tf.KernelBackend, attrs }) as Info;
}

/**
 * dW[r, c, i, o] = sum over b, y, x of input[b, y*s + r - padTop, x*s + c - padLeft, i] * dy[b, y, x, o].
 * With stride 1 that is a valid Conv2D of the padded input, channels to the front
 * ([C, H, W, B]), with dy as the filter ([oH, oW, B, O]): XNNPACK does the work.
 */
function conv2DBackpropFilter({ inputs, backend, attrs }: Args<{ x: Info; dy: Info }, tf.Conv2DBackpropFilterAttrs>): Info {
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  if (dataFormat !== undefined && dataFormat !== 'NHWC') throw new Error(`Conv2DBackpropFilter on wasm: dataFormat ${dataFormat} is not supported (use NHWC)`);
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode);
  // dy is as large as the forward output was; TF.js's gradients do not pass
  // dimRoundingMode, so with a numeric pad and rounding the sizes computed here can be
  // smaller: then only the loop, which reads dy by its own shape, is right (as on cpu).
  const dySized = dy.shape[1] === info.outHeight && dy.shape[2] === info.outWidth;
  if (info.strideHeight === 1 && info.strideWidth === 1 && dySized) return filterGradByConv(x, dy, info, backend);
  return filterGradByLoop(x, dy, info, backend);
}

function filterGradByConv(x: Info, dy: Info, info: tf.backend_util.Conv2DInfo, backend: WasmBackend): Info {
  // The padding the output actually used: for a numeric pad TF.js sizes the output as if
  // the bottom and right pads were smaller, so they follow from the output's size.
  const { top, left } = info.padInfo;
  const bottom = info.outHeight - 1 + info.filterHeight - info.inHeight - top;
  const right = info.outWidth - 1 + info.filterWidth - info.inWidth - left;
  if (bottom < 0 || right < 0) return filterGradByLoop(x, dy, info, backend);
  const temps: Info[] = [];
  const keep = (t: Info) => { temps.push(t); return t; };
  try {
    const padded = top || bottom || left || right
      ? keep(call('PadV2', backend, { x }, { paddings: [[0, 0], [top, bottom], [left, right], [0, 0]], constantValue: 0 }))
      : x;
    const xT = keep(call('Transpose', backend, { x: padded }, { perm: [3, 1, 2, 0] }));
    const dyT = keep(call('Transpose', backend, { x: dy }, { perm: [1, 2, 0, 3] }));
    const r = keep(call('Conv2D', backend, { x: xT, filter: dyT }, { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1] }));
    return call('Transpose', backend, { x: r }, { perm: [1, 2, 0, 3] });
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

function filterGradByLoop(x: Info, dy: Info, info: tf.backend_util.Conv2DInfo, backend: WasmBackend): Info {
  const out = backend.makeOutput(info.filterShape, 'float32');
  const [xv, dyv, dw] = [x, dy, out].map((t) => backend.typedArrayFromHeap(t));
  const { filterHeight, filterWidth, inChannels: ci, outChannels: co } = info;
  for (let wR = 0; wR < filterHeight; wR++) {
    for (let wC = 0; wC < filterWidth; wC++) {
      for (let d1 = 0; d1 < ci; d1++) {
        for (let d2 = 0; d2 < co; d2++) dw[((wR * filterWidth + wC) * ci + d1) * co + d2] = filterTap(info, dy.shape, xv, dyv, wR, wC, d1, d2);
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

/** Each output's gradient goes to the first largest input of its window (as the cpu kernel: -Infinity start, first max wins). */
function maxPoolGrad({ inputs, backend, attrs }: Args<{ dy: Info; input: Info; output: Info }, tf.MaxPoolGradAttrs>): Info {
  const { dy, input } = inputs;
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const out = backend.makeOutput(input.shape, 'float32');
  const [xv, dyv, dx] = [input, dy, out].map((t) => backend.typedArrayFromHeap(t));
  dx.fill(0);
  const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth, strideHeight, strideWidth, effectiveFilterHeight, effectiveFilterWidth } = info;
  const { top, left } = info.padInfo;
  const [, dyH, dyW] = dy.shape; // dy's own rows and columns (see conv2DBackpropFilter)
  for (let b = 0; b < batchSize; b++) {
    for (let yR = 0; yR < outHeight; yR++) {
      const r0 = yR * strideHeight - top;
      const rMin = Math.max(0, r0);
      const rMax = Math.min(inHeight, r0 + effectiveFilterHeight);
      for (let yC = 0; yC < outWidth; yC++) {
        const c0 = yC * strideWidth - left;
        const cMin = Math.max(0, c0);
        const cMax = Math.min(inWidth, c0 + effectiveFilterWidth);
        for (let d = 0; d < c; d++) {
          let best = Number.NEGATIVE_INFINITY;
          let at = -1;
          for (let xR = rMin; xR < rMax; xR++) {
            for (let xC = cMin; xC < cMax; xC++) {
              const i = ((b * inHeight + xR) * inWidth + xC) * c + d;
              if (xv[i] > best) {
                best = xv[i];
                at = i;
              }
            }
          }
          if (at >= 0) dx[at] += dyv[((b * dyH + yR) * dyW + yC) * c + d];
        }
      }
    }
  }
  return out;
}

/** out[s, ...] = sum of x[i, ...] over the i whose id is s; ids outside [0, numSegments) are dropped (as in TensorFlow). */
function unsortedSegmentSum({ inputs, backend, attrs }: Args<{ x: Info; segmentIds: Info }, tf.UnsortedSegmentSumAttrs>): Info {
  const { x, segmentIds } = inputs;
  const n = tf.util.sizeFromShape(segmentIds.shape);
  const inner = tf.util.sizeFromShape(x.shape) / Math.max(n, 1);
  const out = backend.makeOutput([attrs.numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
  const [o, xv, ids] = [out, x, segmentIds].map((t) => backend.typedArrayFromHeap(t));
  o.fill(0);
  for (let i = 0; i < n; i++) {
    const s = ids[i];
    if (s < 0 || s >= attrs.numSegments) continue;
    for (let k = 0; k < inner; k++) o[s * inner + k] += xv[i * inner + k];
  }
  return out;
}

type DepthwiseAttrs = { strides: [number, number] | number; dilations?: [number, number] | number; pad: 'valid' | 'same' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' };

function depthwiseInfo(name: string, xShape: number[], filterShape: number[], attrs: DepthwiseAttrs): tf.backend_util.Conv2DInfo {
  const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number],
    attrs.strides, attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode, true);
  // As TF.js's own gradient of depthwiseConv2d requires (and the cpu kernel assumes).
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) throw new Error(`${name} on wasm: dilations other than 1 are not supported`);
  return info;
}

/** dW[r, c, i, m] = sum over b, y, x of input[b, y*s + r - padTop, x*s + c - padLeft, i] * dy[b, y, x, i*M + m]. */
function depthwiseBackpropFilter({ inputs, backend, attrs }: Args<{ x: Info; dy: Info }, DepthwiseAttrs & { filterShape: [number, number, number, number] }>): Info {
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
function depthwiseBackpropInput({ inputs, backend, attrs }: Args<{ dy: Info; filter: Info }, DepthwiseAttrs & { inputShape: [number, number, number, number] }>): Info {
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
