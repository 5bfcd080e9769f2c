// Kernels that the wasm backend of tfjs 4.22 lacks, gets wrong or runs slowly,
// registered on it under their own names, so that stock TF.js gradients and any
// user's model use them with no change (docs/internals.md, engine decision 10):
//   Conv2DBackpropInput, Conv2DBackpropFilter   conv.ts: on XNNPACK (the filter one is
//                         missing, the input one a plain loop)
//   MaxPoolGrad, AvgPoolGrad   pool.ts: in-order loops (MaxPoolGrad is wrong on wasm)
//   DepthwiseConv2dNativeBackpropFilter / Input   depthwise.ts: missing
//   UnsortedSegmentSum    segment.ts: missing (Embedding's gradient)
//   BatchMatMul           matmul.ts: transposed operands ran a scalar loop
// Each is tested against the cpu backend's kernel (test/unit/wasm-kernels.test.ts).
import * as tf from '@tensorflow/tfjs-core';
import { conv2DBackpropFilter, conv2DBackpropInput } from './conv.js';
import { depthwiseBackpropFilter, depthwiseBackpropInput } from './depthwise.js';
import { transposingMatMul } from './matmul.js';
import { avgPoolGrad, maxPoolGrad } from './pool.js';
import { unsortedSegmentSum } from './segment.js';

let registered = false;

/** The stock kernel of that name (some replacements fall back to it for what they do not take). */
function stock(name: string): tf.KernelFunc {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`the wasm backend has no ${name} kernel`);
  return k.kernelFunc;
}

/** Registers the replacements on the wasm backend, once per thread, before tf.setBackend('wasm'). */
export function registerWasmKernels(): void {
  if (registered) return;
  for (const [kernelName, kernelFunc] of [
    ['BatchMatMul', transposingMatMul(stock('BatchMatMul'))],
    ['Conv2DBackpropInput', conv2DBackpropInput(stock('Conv2DBackpropInput'))],
    ['Conv2DBackpropFilter', conv2DBackpropFilter],
    ['MaxPoolGrad', maxPoolGrad],
    ['AvgPoolGrad', avgPoolGrad],
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
