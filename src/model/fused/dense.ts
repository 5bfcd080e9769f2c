// Dense and Conv2D layers as one differentiable op each: x . W + b (or the convolution
// plus b) with a ReLU, when the layer has one, in one fused kernel forward (XNNPACK adds
// the bias and clamps inside the product), and a hand-written backward of a few kernels.
//
// Why: under the gradient tape TF.js does not fuse (tfjs-core's fused ops fall back to
// separate ops whenever a gradient is being recorded and the activation is not linear),
// so tfjs-layers runs such a layer as a product, a broadcasting Add (0.52 ms for
// [64,26,26,8] + [8] on wasm, ten times an Add of equal shapes) and a ReLU, the tape
// clones what each of them saves (an Identity kernel each), and the backward adds the
// ReLU's mask (Step, Cast, Multiply), the bias's Sum and reshapes. The fused op saves
// three tensors (input, kernel, output) once.
//
// The arithmetic is stock TF.js's: the ReLU's gradient is dy where the output is > 0
// (the same as where its input is > 0), the bias's gradient dz summed over all but the
// last axis, the kernel's and the input's gradients the kernels stock TF.js calls
// (BatchMatMul, Conv2DBackpropFilter, Conv2DBackpropInput). An activation other than
// ReLU and linear runs after the op, as the layer's own. The input's gradient is not
// computed for a layer with no trainable weight before it (the model's first layers):
// nothing reads it. Tested against stock tfjs-layers (test/unit/fused-layers.test.ts).
import * as tf from '@tensorflow/tfjs-core';
import type { FusableLayer, LayerCall, Weight } from './layer.js';
import { oneInput } from './layer.js';

interface Activation {
  getClassName(): string;
  apply(x: tf.Tensor): tf.Tensor;
}

export interface DenseLayer extends FusableLayer {
  kernel: Weight;
  bias: Weight | null;
  activation: Activation;
}

export interface Conv2DLayer extends DenseLayer {
  strides: number[];
  padding: 'valid' | 'same' | 'causal';
  dataFormat: string;
  dilationRate: number | number[];
}

/** 'relu' and 'linear' go inside the op; any other activation runs after it, as the layer's own. */
const insideOp = (a: Activation): 'relu' | 'linear' | null => {
  const name = a.getClassName();
  return name === 'relu' || name === 'linear' ? name : null;
};

/** dL/dz from dL/dy: through the ReLU where it is one (its output > 0 where its input is). */
const throughActivation = (dy: tf.Tensor, y: tf.Tensor, activation: 'relu' | 'linear') => (activation === 'relu' ? tf.mul(dy, tf.step(y)) : dy);

/**
 * A tf.customGrad op of (x, kernel[, bias]): `forward` runs the fused kernel, `backward`
 * gives the kernel's and the input's gradients from dz (null: the input's is not needed).
 */
function fusedOp(
  activation: 'relu' | 'linear', needsInputGrad: boolean, biasAxes: number[],
  forward: (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor | undefined) => tf.Tensor,
  backward: (x: tf.Tensor, w: tf.Tensor, dz: tf.Tensor, needsInputGrad: boolean) => { dx: tf.Tensor | null; dw: tf.Tensor },
) {
  return tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, w, b] = args.filter((a): a is tf.Tensor => a instanceof tf.Tensor);
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const y = forward(x, w, b);
    // The forward pass runs in a tidy of its own: what the backward reads is kept by save().
    save([x, w, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [x, w, y] = saved;
        const dz = throughActivation(dy, y, activation);
        const { dx, dw } = backward(x, w, dz, needsInputGrad);
        return [dx ?? tf.zerosLike(x), dw, ...(args.length === 4 ? [tf.sum(dz, biasAxes)] : [])];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
}

/** The call of a layer whose op is `op`: the stock call for inputs it does not take, the activation after it when it is not inside. */
function callWith(layer: DenseLayer, rank: number, op: (...t: tf.Tensor[]) => tf.Tensor): LayerCall {
  const stock = layer.call.bind(layer);
  const inside = insideOp(layer.activation) !== null;
  return (inputs, kwargs) => {
    const x = oneInput(inputs);
    if (!x || x.rank !== rank) return stock(inputs, kwargs);
    const y = op(x, layer.kernel.read(), ...(layer.bias ? [layer.bias.read()] : []));
    return inside ? y : layer.activation.apply(y);
  };
}

/** Dense on a [batch, features] input: _FusedMatMul forward; dW = x^T . dz, dx = dz . W^T (transposed explicitly: see wasm-kernels/matmul.ts). */
export function fusedDenseCall(layer: DenseLayer, needsInputGrad: boolean): LayerCall | null {
  if (layer.getClassName() !== 'Dense') return null;
  const activation = insideOp(layer.activation) ?? 'linear';
  const op = fusedOp(activation, needsInputGrad, [0],
    // _FusedMatMul takes rank-3 operands (a batch of one), as tf.fused.matMul passes them.
    (x, w, b) => tf.reshape(tf.engine().runKernel('_FusedMatMul', { a: tf.reshape(x, [1, ...x.shape]), b: tf.reshape(w, [1, ...w.shape]), ...(b ? { bias: b } : {}) },
      { transposeA: false, transposeB: false, activation, leakyreluAlpha: 0 }) as tf.Tensor, [x.shape[0], w.shape[1]!]),
    (x, w, dz, wantX) => ({
      dw: tf.matMul(x, dz, true, false),
      dx: wantX ? tf.matMul(dz, w, false, true) : null,
    }));
  return callWith(layer, 2, op);
}

/** Conv2D, channels last, no dilation: FusedConv2D forward; the replacement gradient kernels backward. */
export function fusedConv2DCall(layer: Conv2DLayer, needsInputGrad: boolean): LayerCall | null {
  if (layer.getClassName() !== 'Conv2D' || layer.dataFormat !== 'channelsLast' || layer.padding === 'causal') return null;
  const dilations = typeof layer.dilationRate === 'number' ? [layer.dilationRate, layer.dilationRate] : layer.dilationRate;
  if (dilations.some((d) => d !== 1)) return null; // TF.js has no gradient for dilated convolutions
  const activation = insideOp(layer.activation) ?? 'linear';
  const conv = { strides: layer.strides as [number, number], pad: layer.padding, dataFormat: 'NHWC' as const };
  const op = fusedOp(activation, needsInputGrad, [0, 1, 2],
    (x, w, b) => tf.engine().runKernel('FusedConv2D', { x, filter: w, ...(b ? { bias: b } : {}) },
      { ...conv, dilations: [1, 1], activation, leakyreluAlpha: 0 }) as tf.Tensor,
    (x, w, dz, wantX) => ({
      dw: tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: dz }, { ...conv, filterShape: w.shape }) as tf.Tensor,
      dx: wantX ? tf.engine().runKernel('Conv2DBackpropInput', { dy: dz, filter: w }, { ...conv, inputShape: x.shape }) as tf.Tensor : null,
    }));
  return callWith(layer, 4, op);
}
