// The seed's experiment as a task of the contract in contract.ts, used when no --task is
// given: a stack of Dense layers (config `model`), the combined label [one-hot | the
// --mask condition], categorical cross-entropy times the condition, and the condition
// as the weight (--normalize condition is --normalize weight here). The built-in task
// trains on the hand-written fast path (src/model/mlp.ts) unless --engine general.
import type { Activation } from '../model/layout.js';
import { conditionOf, writeCombinedLabel } from '../model/labels.js';
import type { MaskRule } from '../model/labels.js';
import type { TaskModule } from './contract.js';
import type { Task } from './tf.js';

export interface BuiltinSpec {
  inputSize: number;
  hidden: { units: number; activation: Activation }[];
  numClasses: number;
  mask: MaskRule;
}

/** Keras' clip of the predicted probabilities in categorical cross-entropy (backend epsilon). */
const EPSILON = 1e-7;

export function builtinTask(spec: BuiltinSpec): TaskModule {
  const C = spec.numClasses;
  const task: Task = {
    numClasses: C,
    labelWidth: C + 1,
    label: (cls, out) => writeCombinedLabel(cls, conditionOf(cls, spec.mask), C, out, 0),
    model: ({ tf }) => tf.sequential({
      layers: [
        ...spec.hidden.map((h, i) => tf.layers.dense({ units: h.units, activation: h.activation, ...(i === 0 ? { inputShape: [spec.inputSize] } : {}) })),
        tf.layers.dense({ units: C, activation: 'softmax', ...(spec.hidden.length === 0 ? { inputShape: [spec.inputSize] } : {}) }),
      ],
    }),
    // The seed's loss: slice the one-hot part and the condition column off the label.
    loss: ({ tf }, yTrue, yPred) => tf.tidy(() => {
      const onehot = tf.slice(yTrue, [0, 0], [-1, C]);
      const cond = tf.reshape(tf.slice(yTrue, [0, C], [-1, 1]), [-1]);
      const ce = tf.neg(tf.sum(tf.mul(onehot, tf.log(tf.clipByValue(yPred, EPSILON, 1 - EPSILON))), -1));
      return tf.mul(ce, cond);
    }),
    weight: ({ tf }, yTrue) => tf.reshape(tf.slice(yTrue, [0, C], [-1, 1]), [-1]),
  };
  return task;
}
