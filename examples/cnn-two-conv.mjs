// Two convolutions on MNIST with the seed's masked loss (the label is [one-hot digit |
// "is odd"], the loss cross-entropy times that column): conv 3x3 -> max-pool -> conv
// 3x3 -> max-pool -> dense. The network the performance figures compare with PyTorch
// (bench/pytorch_contender.py trains the same one).
//
//   npm run train -- --task examples/cnn-two-conv.mjs --workers 2 --epochs 1
//   npm run profile -- --task examples/cnn-two-conv.mjs

export const numClasses = 10;
export const labelWidth = 11;

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
      tf.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
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
