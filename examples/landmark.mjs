// Landmark regression: is there a digit in the image, and where is its centre? Each
// row's combined label is [present, cx, cy] (written with the data by
// examples/landmark-data.mjs), and the output is [logit of present, cx, cy]. The loss is
// the binary cross-entropy of the flag plus, on the rows that hold a digit, the squared
// error of the centre: the Keras technique of a label that carries a per-sample
// condition, on a model without class columns. The evaluation reports the mean loss
// and the metrics below (no class report: the output has no class columns), and
// `npm run predict` writes each row's three raw outputs.
//
//   node examples/landmark-data.mjs data/landmark
//   npm run train -- --task examples/landmark.mjs --data data/landmark --validation-split 0.1 \
//     --epochs 30 --early-stopping-patience 3 --restore-best-weights --checkpoint-dir runs/landmark

export const labelWidth = 3;

export function model({ tf, inputShape }) {
  return tf.sequential({
    layers: [
      tf.layers.reshape({ targetShape: [...inputShape, 1], inputShape }),
      tf.layers.conv2d({ filters: 8, kernelSize: 5, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 64, activation: 'relu' }),
      tf.layers.dense({ units: 3 }),
    ],
  });
}

const present = (yTrue) => yTrue.slice([0, 0], [-1, 1]).reshape([-1]);
const logit = (yPred) => yPred.slice([0, 0], [-1, 1]).reshape([-1]);
/** Squared distance between the true and predicted centres, in units of the image's side. */
const centreSquaredError = (tf, yTrue, yPred) => tf.sum(tf.square(tf.sub(yTrue.slice([0, 1], [-1, 2]), yPred.slice([0, 1], [-1, 2]))), -1);

export function loss({ tf }, yTrue, yPred) {
  const [y, z] = [present(yTrue), logit(yPred)];
  // Binary cross-entropy from the logit, in its stable form: max(z, 0) - z y + log(1 + e^-|z|).
  const bce = tf.add(tf.sub(tf.relu(z), tf.mul(z, y)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
  return tf.add(bce, tf.mul(y, centreSquaredError(tf, yTrue, yPred)));
}

export const metrics = {
  /** The flag's accuracy: a logit > 0 says "a digit". */
  presentAccuracy: ({ tf }, yTrue, yPred) => tf.cast(tf.equal(tf.greater(logit(yPred), 0), tf.greater(present(yTrue), 0.5)), 'float32'),
  /** How far off the centre is, in pixels, on the rows that hold a digit (0 on the others); divide by the share of those rows (0.75) for the mean over them. */
  centreErrorPx: ({ tf }, yTrue, yPred) => tf.mul(present(yTrue), tf.mul(tf.sqrt(centreSquaredError(tf, yTrue, yPred)), 27)),
};
