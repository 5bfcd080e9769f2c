// A CNN on MNIST with the seed's masked loss: the label is [one-hot digit | "is odd"],
// and the loss is categorical cross-entropy times that column, so only odd digits are
// learned. No TF.js import: the trainer passes in the `tf` it runs on.
//
//   npm run train -- --task examples/cnn-masked.mjs --workers 2 --epochs 2

export const numClasses = 10;
export const labelWidth = 11;

/** One combined-label row from a digit: one-hot, then 1 for odd digits. */
export function label(digit, out) {
  out[digit] = 1;
  out[10] = digit % 2;
}

export function model({ tf, inputShape, numClasses }) {
  return tf.sequential({
    layers: [
      tf.layers.reshape({ targetShape: [...inputShape, 1], inputShape }),
      tf.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 64, activation: 'relu' }),
      tf.layers.dense({ units: numClasses, activation: 'softmax' }),
    ],
  });
}

/** Per-sample loss, shape [rows]: cross-entropy of the one-hot part times the odd column. */
export function loss({ tf }, yTrue, yPred) {
  const onehot = yTrue.slice([0, 0], [-1, 10]);
  const odd = yTrue.slice([0, 10], [-1, 1]).reshape([-1]);
  const ce = tf.neg(tf.sum(tf.mul(onehot, tf.log(tf.clipByValue(yPred, 1e-7, 1 - 1e-7))), -1));
  return tf.mul(ce, odd);
}

/** The rows the loss counts: --normalize weight divides by their number in each batch. */
export function weight({ tf }, yTrue) {
  return yTrue.slice([0, 10], [-1, 1]).reshape([-1]);
}
