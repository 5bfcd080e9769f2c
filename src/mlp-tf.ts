// The model's math in TensorFlow.js: dense layers with hand-written gradients, the
// seed's masked loss, and the gradient of its SUM over a shard. Used by the workers,
// and by tests as the single-process reference.
import * as tf from '@tensorflow/tfjs-core';
import type { Activation, ModelSpec, ParamLayout } from './shared-memory.js';
import { paramView } from './shared-memory.js';

type T2 = tf.Tensor2D;
type Save = (tensors: tf.Tensor[]) => void;

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

function activate(z: T2, act: Activation): T2 {
  switch (act) {
    case 'relu': return tf.relu(z);
    case 'tanh': return tf.tanh(z);
    case 'sigmoid': return tf.sigmoid(z);
    case 'linear': return z;
  }
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

// Why hand-written gradients: tfjs autodiff through matMul emits transposed matmuls,
// which XNNPACK on wasm does not serve (a scalar loop: ~9 ms instead of ~0.75 ms for
// the first layer's weight gradient). Transposing explicitly and multiplying plainly
// is ~5x faster for the whole step. See ../shared/DESIGN.md, decision 3.

/**
 * The first dense layer: its input is data, so it has no input gradient. `xT` is the
 * input already transposed (built in JS while gathering the shard), so dW = xT . dz
 * is a plain matmul and no transpose runs on the backend.
 */
function firstDense(x: T2, xT: T2, act: Activation) {
  return tf.customGrad((...args) => {
    const [w, b, save] = args as [tf.Tensor, tf.Tensor, Save];
    const a = activate(tf.add(tf.matMul(x, w as T2), b), act);
    save([a]);
    return {
      value: a,
      gradFunc: (dy, saved) => {
        const dz = activationGrad(dy as T2, saved[0] as T2, act);
        return [tf.matMul(xT, dz), tf.sum(dz, 0)];
      },
    };
  }) as (w: tf.Tensor, b: tf.Tensor) => T2;
}

/** A later dense layer: gradients for its input, kernel and bias, transposes explicit. */
function dense(act: Activation) {
  return tf.customGrad((...args) => {
    const [x, w, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, Save];
    const a = activate(tf.add(tf.matMul(x as T2, w as T2), b), act);
    save([x, w, a]);
    return {
      value: a,
      gradFunc: (dy, saved) => {
        const [xs, ws, as] = saved as T2[];
        const dz = activationGrad(dy as T2, as, act);
        return [tf.matMul(dz, tf.transpose(ws)), tf.matMul(tf.transpose(xs), dz), tf.sum(dz, 0)];
      },
    };
  }) as (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => T2;
}

/**
 * The seed's loss as a SUM over rows: the combined label is sliced into the one-hot
 * part (columns 0..C-1) and the condition column C; per row, categorical
 * cross-entropy of softmax(logits) times the condition. Cross-entropy is taken from
 * the logits (log-softmax), as Keras does when the output is a softmax in a graph.
 * Its gradient wrt the logits is (softmax * sum(onehot) - onehot) * condition.
 */
export function maskedLossSum(label: T2, numClasses: number) {
  return tf.customGrad((...args) => {
    const [logits, save] = args as [tf.Tensor, Save];
    const onehot = tf.slice(label, [0, 0], [-1, numClasses]);
    const cond = tf.slice(label, [0, numClasses], [-1, 1]);
    const logp = tf.logSoftmax(logits as T2);
    // Saved, not captured: tensors made in the forward pass are disposed before
    // backprop unless saved.
    save([logp, onehot, cond]);
    const perRow = tf.neg(tf.sum(tf.mul(onehot, logp), 1, true));
    return {
      value: tf.sum(tf.mul(perRow, cond)),
      gradFunc: (dy, saved) => {
        const [lp, oh, c] = saved;
        const g = tf.sub(tf.mul(tf.exp(lp), tf.sum(oh, 1, true)), oh);
        return [tf.mul(tf.mul(g, c), dy)];
      },
    };
  }) as (logits: tf.Tensor) => tf.Scalar;
}

/** One tensor per parameter, copied from the flat weights, in layout order. */
export function weightTensors(flat: Float32Array, layout: ParamLayout): tf.Tensor[] {
  return layout.params.map((p) => tf.tensor(paramView(flat, p), p.shape, 'float32'));
}

/** Logits of a batch (no gradients): x is [rows, inputSize]. */
export function forwardLogits(x: T2, weights: tf.Tensor[], model: ModelSpec): T2 {
  let h = x;
  for (let l = 0; l < model.hidden.length; l++) {
    h = activate(tf.add(tf.matMul(h, weights[2 * l] as T2), weights[2 * l + 1]), model.hidden[l].activation);
  }
  const last = model.hidden.length;
  return tf.add(tf.matMul(h, weights[2 * last] as T2), weights[2 * last + 1]);
}

/**
 * The masked loss SUM over the rows of x and the gradient of that sum for every
 * parameter, in layout order. Call inside tf.tidy.
 */
export function lossSumAndGrads(
  x: T2,
  xT: T2,
  label: T2,
  weights: tf.Tensor[],
  model: ModelSpec,
): { lossSum: tf.Scalar; grads: tf.Tensor[] } {
  const layers = model.hidden.length;
  const first = firstDense(x, xT, layers > 0 ? model.hidden[0].activation : 'linear');
  const rest = model.hidden.slice(1).map((h) => dense(h.activation));
  const out = dense('linear');
  const loss = maskedLossSum(label, model.numClasses);
  const f = (...w: tf.Tensor[]): tf.Scalar => {
    let h = first(w[0], w[1]);
    if (layers === 0) return loss(h);
    for (let l = 1; l < layers; l++) h = rest[l - 1](h, w[2 * l], w[2 * l + 1]);
    return loss(out(h, w[2 * layers], w[2 * layers + 1]));
  };
  const { value, grads } = tf.valueAndGrads(f)(weights);
  return { lossSum: value as tf.Scalar, grads };
}
