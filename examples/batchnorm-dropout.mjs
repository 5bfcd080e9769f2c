// A model with BatchNormalization and Dropout, trained on every core. No label export:
// the default label is [one-hot | the --mask condition column] (odd digits by
// default), and this loss uses only the one-hot part, so every digit is learned.
//
//   npm run train -- --task examples/batchnorm-dropout.mjs --workers 2
//
// BatchNormalization normalises each shard by its own rows' statistics (as in PyTorch
// DDP without SyncBatchNorm); its moving mean and variance are those updated by shard
// 0's rows at each step. Dropout draws its masks from --seed, the step and the row, so
// a run repeats exactly.

export function model({ tf, inputShape, numClasses }) {
  return tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape }),
      tf.layers.dense({ units: 64 }),
      tf.layers.batchNormalization(),
      tf.layers.activation({ activation: 'relu' }),
      tf.layers.dropout({ rate: 0.2 }),
      tf.layers.dense({ units: numClasses, activation: 'softmax' }),
    ],
  });
}

export function loss({ tf }, yTrue, yPred) {
  const onehot = yTrue.slice([0, 0], [-1, 10]);
  return tf.neg(tf.sum(tf.mul(onehot, tf.log(tf.clipByValue(yPred, 1e-7, 1))), -1));
}
