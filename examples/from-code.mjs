// The seed experiment from a program: train() with an epoch callback, then the
// history (the shape of tf.History) and the seed's report on the test set.
// Run it with `node examples/from-code.mjs` after `npm ci` (or `npm install` the
// package into your project and import it by the same name).
import { train } from 'tfjs-parallel-trainer';

const result = await train({
  workers: 2,
  epochs: 3,
  callbacks: {
    onEpochEnd: (epoch, logs) => console.log(`epoch ${epoch}: loss ${logs.loss.toFixed(4)}, ${logs.samplesPerSec} samples/s`),
  },
});

console.log(result.history);
const { odd, even } = result.eval.test;
console.log(`test set: odd digits ${odd.accuracy.toFixed(4)} on ${odd.rows} rows, even digits ${even.accuracy.toFixed(4)} on ${even.rows} rows`);
console.log(`${result.weights.length} weights in ${result.layout.params.length} parameters: ${result.layout.params.map((p) => `${p.name} [${p.shape}]`).join(', ')}`);
