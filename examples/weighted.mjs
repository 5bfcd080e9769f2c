// Weighted samples: every row carries a weight in [0, 1] in its label's last column,
// the per-sample loss is cross-entropy times that weight, and `--normalize weight`
// divides each batch's loss sum by the batch's weight sum, so shards of any size give
// the single-process result. Here the weight says how much a digit counts: 0 counts
// nothing, 9 counts fully.
//
//   npm run train -- --task examples/weighted.mjs --normalize weight

export const numClasses = 10;
export const labelWidth = 11;

export function label(digit, out) {
  out[digit] = 1;
  out[10] = digit / 9;
}

export function model({ tf, inputShape, numClasses }) {
  return tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape }),
      tf.layers.dense({ units: 64, activation: 'relu' }),
      tf.layers.dense({ units: numClasses, activation: 'softmax' }),
    ],
  });
}

export function loss({ tf }, yTrue, yPred) {
  const onehot = yTrue.slice([0, 0], [-1, 10]);
  const w = yTrue.slice([0, 10], [-1, 1]).reshape([-1]);
  const ce = tf.neg(tf.sum(tf.mul(onehot, tf.log(tf.clipByValue(yPred, 1e-7, 1))), -1));
  return tf.mul(ce, w);
}

export function weight(_ctx, yTrue) {
  return yTrue.slice([0, 10], [-1, 1]).reshape([-1]);
}
