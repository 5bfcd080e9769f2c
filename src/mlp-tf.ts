// The model's math in TensorFlow.js: dense layers with hand-written gradients, the
// seed's masked loss, and the gradient of its SUM over a shard. Used by the workers,
// and by tests as the single-process reference.
import * as tf from '@tensorflow/tfjs-core';
import type { Activation, ModelSpec, ParamLayout } from './shared-memory.js';
import { paramView } from './shared-memory.js';

type T2 = tf.Tensor2D;

/** Sets the backend and fails loudly: tf.setBackend returns false instead of throwing. */
export async function initBackend(name: 'wasm' | 'cpu' | 'tensorflow'): Promise<void> {
  if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  else if (name === 'cpu') await import('@tensorflow/tfjs-backend-cpu');
  // Opt-in only, never a dependency (../shared/DESIGN.md, decision 1): a user's install.
  else await import(['@tensorflow', 'tfjs-node'].join('/'));
  const ok = await tf.setBackend(name);
  if (!ok || tf.getBackend() !== name) {
    throw new Error(`could not initialise the TensorFlow.js '${name}' backend (tf.setBackend returned ${ok})`);
  }
}

/**
 * A dense layer's forward pass, z = x . W + b then the activation, as one fused
 * kernel where the backend can (wasm: XNNPACK adds the bias and clamps for relu inside
 * the matmul). tanh has no fused form on wasm, so it runs as its own op.
 */
function denseForward(x: T2, w: T2, b: tf.Tensor, act: Activation): T2 {
  if (act === 'tanh') return tf.tanh(tf.fused.matMul({ a: x, b: w, bias: b })) as T2;
  return tf.fused.matMul({ a: x, b: w, bias: b, activation: act }) as T2;
}

/** dL/dz from dL/da, written in terms of the activation's output a. */
function activationGrad(dy: T2, a: T2, act: Activation): T2 {
  switch (act) {
    case 'relu': return tf.mul(dy, tf.step(a));
    case 'tanh': return tf.mul(dy, tf.sub(1, tf.square(a)));
    case 'sigmoid': return tf.mul(dy, tf.mul(a, tf.sub(1, a)));
    case 'linear': return dy;
  }
}

/**
 * The seed's loss as a SUM over rows, and its gradient wrt the logits. The combined
 * label is sliced into the one-hot part (columns 0..C-1) and the condition column C;
 * per row, categorical cross-entropy of softmax(logits) times the condition.
 * Cross-entropy is taken from the logits (log-softmax), as Keras does when the output
 * is a softmax in a graph. The gradient of the sum wrt the logits is
 * (softmax * sum(onehot) - onehot) * condition. Call inside tf.tidy.
 */
export function maskedLoss(logits: T2, label: T2, numClasses: number): { lossSum: tf.Scalar; dLogits: T2 } {
  const onehot = tf.slice(label, [0, 0], [-1, numClasses]);
  const cond = tf.slice(label, [0, numClasses], [-1, 1]);
  const logp = tf.logSoftmax(logits);
  const perRow = tf.neg(tf.sum(tf.mul(onehot, logp), 1, true));
  const lossSum = tf.sum(tf.mul(perRow, cond));
  const dLogits = tf.mul(tf.sub(tf.mul(tf.exp(logp), tf.sum(onehot, 1, true)), onehot), cond);
  return { lossSum: lossSum as tf.Scalar, dLogits: dLogits as T2 };
}

// Why the backward pass is written out by hand rather than taken from tf.grads:
// - tfjs autodiff through matMul emits transposed matmuls, which XNNPACK on wasm does
//   not serve (a scalar loop: ~9 ms instead of ~0.75 ms for the first layer's weight
//   gradient; ../shared/DESIGN.md, decision 3). Here every product is a plain matmul
//   of operands transposed explicitly.
// - The gradient tape and customGrad bookkeeping cost JavaScript time on every op of
//   every step, and the fused forward (bias and relu inside the matmul) cuts the
//   kernel count; together ~20% of a 64-row shard's forward and backward.
// - The first layer's input is data: its gradient is never computed. Its transpose
//   `xT` is built in JS while the rows are gathered, so dW1 = xT . dz1 needs no
//   transpose kernel.
// The gradients are tested against central finite differences of an independent
// float64 forward (test/loss.test.ts).

/** One tensor per parameter, copied from the flat weights, in layout order. */
export function weightTensors(flat: Float32Array, layout: ParamLayout): tf.Tensor[] {
  return layout.params.map((p) => tf.tensor(paramView(flat, p), p.shape, 'float32'));
}

/** Logits of a batch (no gradients): x is [rows, inputSize]. */
export function forwardLogits(x: T2, weights: tf.Tensor[], model: ModelSpec): T2 {
  let h = x;
  model.hidden.forEach((layer, l) => { h = denseForward(h, weights[2 * l] as T2, weights[2 * l + 1], layer.activation); });
  const last = model.hidden.length;
  return denseForward(h, weights[2 * last] as T2, weights[2 * last + 1], 'linear');
}

/**
 * The masked loss SUM over the rows of x and the gradient of that sum for every
 * parameter, in layout order. `xT` is x transposed. Call inside tf.tidy.
 */
export function lossSumAndGrads(
  x: T2,
  xT: T2,
  label: T2,
  weights: tf.Tensor[],
  model: ModelSpec,
): { lossSum: tf.Scalar; grads: tf.Tensor[] } {
  const layers = model.hidden.length + 1;
  const act = (l: number): Activation => (l < model.hidden.length ? model.hidden[l].activation : 'linear');
  // Forward, keeping every layer's output: a[0] is the input, a[l + 1] layer l's output.
  const a: T2[] = [x];
  for (let l = 0; l < layers; l++) a.push(denseForward(a[l], weights[2 * l] as T2, weights[2 * l + 1], act(l)));
  const { lossSum, dLogits } = maskedLoss(a[layers], label, model.numClasses);
  // Backward, last layer first. dz is dL/dz of layer l (z = the layer's pre-activation).
  const grads: tf.Tensor[] = new Array(2 * layers);
  let dz = dLogits;
  for (let l = layers - 1; l >= 0; l--) {
    grads[2 * l] = tf.matMul(l === 0 ? xT : tf.transpose(a[l]), dz);
    grads[2 * l + 1] = tf.sum(dz, 0);
    if (l > 0) dz = activationGrad(tf.matMul(dz, tf.transpose(weights[2 * l] as T2)), a[l], act(l - 1));
  }
  return { lossSum, grads };
}

/**
 * Copies a float32 tensor's values into `dst`. On wasm it reads the backend's heap in
 * place: dataSync() would allocate a fresh copy of every gradient on every step (a
 * 200 KB ArrayBuffer for the first layer's), which the garbage collector then chases.
 */
export function copyInto(t: tf.Tensor, dst: Float32Array): void {
  const backend = tf.backend() as unknown as { typedArrayFromHeap?: (t: tf.TensorInfo) => Float32Array };
  if (typeof backend.typedArrayFromHeap === 'function' && t.dtype === 'float32') dst.set(backend.typedArrayFromHeap(t));
  else dst.set(t.dataSync() as Float32Array);
}
