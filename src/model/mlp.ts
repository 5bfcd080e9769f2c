// The model's math in TensorFlow.js kernels: dense layers with hand-written gradients,
// the seed's masked loss, the gradient of its SUM over a shard, and the logits for
// evaluation. Used by the workers, and by tests as the single-process reference.
import type { Activation, ModelSpec, ParamLayout } from './layout.js';
import { paramView } from './layout.js';
import { reshaped } from './kernels.js';
import type { Info, Kernels } from './kernels.js';

/** The fused activation of a dense layer: wasm fuses relu (a clamp) and sigmoid, not tanh. */
function fusedActivation(act: Activation): 'relu' | 'sigmoid' | 'linear' {
  return act === 'relu' || act === 'sigmoid' ? act : 'linear';
}

/** A shard's rows as the MLP's training step reads them (src/paths/fast/gather.ts fills them). */
export interface MlpInputs {
  /** [rows, inputSize] pixels scaled to [0, 1]. */
  x: Float32Array;
  /** [inputSize, rows]: x transposed, so the first layer's weight gradient is a plain matmul. */
  xT: Float32Array;
  /** [rows, C + 1] combined labels. */
  label: Float32Array;
}

const PLAIN = { transposeA: false, transposeB: false };

/**
 * A dense layer's forward pass, z = x . W + b then the activation, as one fused kernel
 * where the backend can (wasm: XNNPACK adds the bias and clamps for relu inside the
 * matmul). _FusedMatMul takes rank-3 operands (a batch of one), as tf.fused.matMul
 * passes them.
 */
function dense(k: Kernels, x: Info, w: Info, b: Info, act: Activation): Info {
  const z = k.run('_FusedMatMul', { a: reshaped(x, [1, ...x.shape]), b: reshaped(w, [1, ...w.shape]), bias: b },
    { ...PLAIN, activation: fusedActivation(act), leakyreluAlpha: 0 });
  const a = reshaped(z, z.shape.slice(1));
  return act === 'tanh' ? k.run('Tanh', { x: a }) : a;
}

const matMul = (k: Kernels, a: Info, b: Info) => k.run('BatchMatMul', { a, b }, PLAIN);
const transpose = (k: Kernels, x: Info) => k.run('Transpose', { x }, { perm: [1, 0] });
const mul = (k: Kernels, a: Info, b: Info) => k.run('Multiply', { a, b });
const sub = (k: Kernels, a: Info, b: Info) => k.run('Sub', { a, b });
const sum = (k: Kernels, x: Info, axis: number | number[], keepDims: boolean) => k.run('Sum', { x }, { axis, keepDims });

/** dL/dz from dL/da, written in terms of the activation's output a. */
function activationGrad(k: Kernels, dy: Info, a: Info, act: Activation): Info {
  const one = () => k.input(Float32Array.of(1), []);
  switch (act) {
    case 'relu': return mul(k, dy, k.run('Step', { x: a }, { alpha: 0 }));
    case 'tanh': return mul(k, dy, sub(k, one(), k.run('Square', { x: a })));
    case 'sigmoid': return mul(k, dy, mul(k, a, sub(k, one(), a)));
    case 'linear': return dy;
  }
}

/**
 * The seed's loss as a SUM over rows, and its gradient wrt the logits. The combined
 * label is sliced into the one-hot part (columns 0..C-1) and the condition column C;
 * per row, categorical cross-entropy of softmax(logits) times the condition.
 * Cross-entropy is taken from the logits (log-softmax, computed as tf.logSoftmax does),
 * as Keras does when the output is a softmax in a graph. The gradient of the sum wrt
 * the logits is (softmax * sum(onehot) - onehot) * condition.
 */
export function maskedLoss(k: Kernels, logits: Info, label: Info, numClasses: number): { lossSum: Info; dLogits: Info } {
  const onehot = k.run('Slice', { x: label }, { begin: [0, 0], size: [-1, numClasses] });
  const cond = k.run('Slice', { x: label }, { begin: [0, numClasses], size: [-1, 1] });
  const shifted = sub(k, logits, k.run('Max', { x: logits }, { reductionIndices: [1], keepDims: true }));
  const logp = sub(k, shifted, k.run('Log', { x: sum(k, k.run('Exp', { x: shifted }), [1], true) }));
  const perRow = k.run('Neg', { x: sum(k, mul(k, onehot, logp), 1, true) });
  const lossSum = sum(k, mul(k, perRow, cond), [0, 1], false);
  const softmax = k.run('Exp', { x: logp });
  const dLogits = mul(k, sub(k, mul(k, softmax, sum(k, onehot, 1, true)), onehot), cond);
  return { lossSum, dLogits };
}

// Why the backward pass is written out by hand rather than taken from tf.grads:
// - tfjs autodiff through matMul emits transposed matmuls, which XNNPACK on wasm does
//   not serve (a scalar loop: ~9 ms instead of ~0.75 ms for the first layer's weight
//   gradient; docs/internals.md, engine decision 3). Here every product is a plain matmul
//   of operands transposed explicitly.
// - The gradient tape and the engine's bookkeeping cost JavaScript time on every op of
//   every step (see src/model/kernels.ts); the fused forward (bias and relu inside the
//   matmul) cuts the kernel count.
// - The first layer's input is data: its gradient is never computed. Its transpose
//   `xT` is built in JS while the rows are gathered, so dW1 = xT . dz1 needs no
//   transpose kernel.
// The gradients are tested against central finite differences of an independent
// float64 forward (test/unit/loss.test.ts).

/** One input per parameter, copied from the flat weights, in layout order. */
export function weightInputs(k: Kernels, flat: Float32Array, layout: ParamLayout): Info[] {
  return layout.params.map((p) => k.input(paramView(flat, p), p.shape));
}

/**
 * Forward pass from input `x`, keeping every layer's output: a[0] is x, a[l + 1] the
 * output of layer l; the last is the logits.
 */
function forward(k: Kernels, x: Info, w: Info[], model: ModelSpec): Info[] {
  const a: Info[] = [x];
  for (let l = 0; l <= model.hidden.length; l++) a.push(dense(k, a[l], w[2 * l], w[2 * l + 1], activationOf(model, l)));
  return a;
}

const activationOf = (model: ModelSpec, l: number): Activation => (l < model.hidden.length ? model.hidden[l].activation : 'linear');

/** The logits of `rows` rows of x ([rows, inputSize]) into `out` ([rows, C]); no gradients. */
export function logitsInto(k: Kernels, w: Info[], model: ModelSpec, rows: number, x: Float32Array, out: Float32Array): void {
  const mark = k.mark();
  try {
    const a = forward(k, k.input(x.subarray(0, rows * model.inputSize), [rows, model.inputSize]), w, model);
    k.read(a[a.length - 1], out.subarray(0, rows * model.numClasses));
  } finally {
    k.release(mark);
  }
}

/**
 * The masked loss SUM over the first `rows` rows gathered in `buf` and the gradient of
 * that sum for every parameter, written into `out` (flat, in layout order). Returns
 * the loss sum. Every tensor it makes is freed before it returns; the weight inputs
 * `w` are the caller's.
 */
export function shardLossAndGradient(
  k: Kernels, w: Info[], model: ModelSpec, layout: ParamLayout, rows: number, buf: MlpInputs, out: Float32Array,
): number {
  const mark = k.mark();
  try {
    const { inputSize, numClasses } = model;
    const layers = model.hidden.length + 1;
    const x = k.input(buf.x.subarray(0, rows * inputSize), [rows, inputSize]);
    const xT = k.input(buf.xT.subarray(0, rows * inputSize), [inputSize, rows]);
    const label = k.input(buf.label.subarray(0, rows * (numClasses + 1)), [rows, numClasses + 1]);
    const a = forward(k, x, w, model);
    const { lossSum, dLogits } = maskedLoss(k, a[layers], label, numClasses);
    // Backward, last layer first. dz is dL/dz of layer l (z = the layer's pre-activation).
    let dz = dLogits;
    for (let l = layers - 1; l >= 0; l--) {
      k.read(matMul(k, l === 0 ? xT : transpose(k, a[l]), dz), paramView(out, layout.params[2 * l]));
      k.read(sum(k, dz, 0, false), paramView(out, layout.params[2 * l + 1]));
      if (l > 0) dz = activationGrad(k, matMul(k, dz, transpose(k, w[2 * l])), a[l], activationOf(model, l - 1));
    }
    return k.scalar(lossSum);
  } finally {
    k.release(mark);
  }
}
