// A recurrent network on MNIST with the seed's masked loss: the image's 28 rows are 28
// time steps of 28 values, read by a GRU(32); its last state goes to a softmax over the
// digits. The label is [one-hot digit | "is odd"], the loss cross-entropy times that
// column. The network the performance figures compare with PyTorch
// (bench/pytorch_contender.py trains the same layers with PyTorch's own cell: sigmoid
// gates where tfjs-layers defaults to hardSigmoid, two bias vectors, and for the GRU
// the reset gate applied after the recurrent product).
//
//   npm run train -- --task examples/gru-rows.mjs --workers 2 --epochs 1
//   npm run profile -- --task examples/gru-rows.mjs

export const numClasses = 10;
export const labelWidth = 11;

export function label(digit, out) {
  out[digit] = 1;
  out[10] = digit % 2;
}

export function model({ tf, inputShape, numClasses }) {
  return tf.sequential({
    layers: [
      tf.layers.reshape({ targetShape: [inputShape[0], inputShape[1]], inputShape }),
      tf.layers.gru({ units: 32 }),
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
