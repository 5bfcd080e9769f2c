// A model with two outputs (Keras' multi-output model): one body, a head for the digit
// (softmax over 10 classes) and a head for "is it odd" (a sigmoid). The combined label
// is the one-hot digit and the odd column, the two heads' targets side by side in
// output order; the loss gets the list of outputs and adds the heads' losses. The
// evaluation reports the mean loss, the class report of the first output, and each
// built-in metric per output, named as Keras names them (`digit_accuracy`,
// `odd_accuracy`: a 1-column output's accuracy is binary, as in Keras).
//
//   npm run train -- --task examples/two-heads.mjs --workers 2

export const numClasses = 10;
export const labelWidth = 11;

export function label(digit, out) {
  out[digit] = 1;
  out[10] = digit % 2;
}

export function model({ tf, inputShape, numClasses }) {
  const input = tf.input({ shape: inputShape });
  const body = tf.layers.dense({ units: 64, activation: 'relu' }).apply(tf.layers.flatten().apply(input));
  const digit = tf.layers.dense({ units: numClasses, activation: 'softmax', name: 'digit' }).apply(body);
  const odd = tf.layers.dense({ units: 1, activation: 'sigmoid', name: 'odd' }).apply(body);
  return tf.model({ inputs: input, outputs: [digit, odd] });
}

/** Per sample: the digit head's cross-entropy plus the odd head's binary cross-entropy. */
export function loss({ tf }, yTrue, [digit, odd]) {
  const onehot = yTrue.slice([0, 0], [-1, 10]);
  const isOdd = yTrue.slice([0, 10], [-1, 1]);
  const ce = tf.neg(tf.sum(tf.mul(onehot, tf.log(tf.clipByValue(digit, 1e-7, 1))), -1));
  const p = tf.clipByValue(odd, 1e-7, 1 - 1e-7);
  const bce = tf.neg(tf.add(tf.mul(isOdd, tf.log(p)), tf.mul(tf.sub(1, isOdd), tf.log(tf.sub(1, p))))).reshape([-1]);
  return tf.add(ce, bce);
}

export const metrics = ['accuracy', 'binaryAccuracy'];
