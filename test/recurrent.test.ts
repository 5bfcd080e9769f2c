// The fused recurrent layers (src/model/recurrent.ts) against stock tfjs-layers on the
// same backend (cpu: pure JS kernels), so only the fusion differs: the loss and every
// weight's gradient within 1e-5 for GRU and LSTM, their activations, every time step's
// output, no bias; the settings it does not implement stay on the stock path; no
// tensor is left behind.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { Rng } from '../src/data/rng.js';
import { fuseRecurrentLayers } from '../src/model/recurrent.js';
import { withSeededRandom } from '../src/task/load.js';
import '../src/task/tf.js'; // the chained tensor methods the recurrent layers' initializer calls
import { maxRelDiff } from './helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const random = (n: number, seed: number) => {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
};

/** Loss and gradients of `build()`'s model (seeded) on a fixed batch; fused first when asked. */
function lossAndGrads(build: () => tfl.LayersModel, fuse: boolean, input: number[], masked = false) {
  const model = withSeededRandom(3, build);
  const fused = fuse ? fuseRecurrentLayers(model) : [];
  const rows = input[0];
  const values = random(input.reduce((a, b) => a * b, 1), 5);
  if (masked) values.fill(0, 0, input.slice(1).reduce((a, b) => a * b, 1) / 2); // half of row 0's time steps are padding
  return tf.tidy(() => {
    const x = tf.tensor(values, input);
    const y = tf.tensor2d(Float32Array.from({ length: rows * 10 }, (_, i) => (i % 10 === Math.floor(i / 10) % 7 ? 1 : 0)), [rows, 10]);
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
    return {
      fused,
      loss: value.dataSync()[0],
      grads: model.trainableWeights.map((w) => grads[(w as unknown as { val: tf.Variable }).val.name].dataSync() as Float32Array),
    };
  });
}

const head = () => tfl.layers.dense({ units: 10, activation: 'softmax' });

describe('fused GRU and LSTM layers equal stock tfjs-layers (cpu backend, within 1e-5)', () => {
  const CASES: [string, () => tfl.LayersModel, number[], number][] = [
    ['GRU, the defaults (tanh, hardSigmoid)', () => tfl.sequential({ layers: [tfl.layers.gru({ inputShape: [6, 5], units: 7 }), head()] }), [4, 6, 5], 1],
    ['LSTM, the defaults (tanh, hardSigmoid)', () => tfl.sequential({ layers: [tfl.layers.lstm({ inputShape: [6, 5], units: 7 }), head()] }), [4, 6, 5], 1],
    ['GRU (sigmoid, every time step) -> LSTM (relu, no bias)', () => tfl.sequential({
      layers: [
        tfl.layers.gru({ inputShape: [5, 4], units: 6, recurrentActivation: 'sigmoid', returnSequences: true }),
        tfl.layers.lstm({ units: 5, activation: 'relu', useBias: false }), head(),
      ],
    }), [3, 5, 4], 2],
    ['LSTM (linear, hardSigmoid, every time step) -> Flatten, batch 1, two time steps', () => tfl.sequential({
      layers: [tfl.layers.lstm({ inputShape: [2, 3], units: 4, activation: 'linear', returnSequences: true }), tfl.layers.flatten(), head()],
    }), [1, 2, 3], 1],
    ['GRU over the 28 rows of an image, as examples/gru-rows.mjs', () => tfl.sequential({
      layers: [tfl.layers.gru({ inputShape: [28, 28], units: 32 }), head()],
    }), [8, 28, 28], 1],
  ];
  for (const [name, build, input, layers] of CASES) {
    it(name, () => {
      const stock = lossAndGrads(build, false, input);
      const fused = lossAndGrads(build, true, input);
      expect(fused.fused).toHaveLength(layers);
      expect(Math.abs(fused.loss - stock.loss)).toBeLessThan(1e-5 * Math.abs(stock.loss));
      expect(fused.grads).toHaveLength(stock.grads.length);
      stock.grads.forEach((g, i) => {
        expect(maxRelDiff(fused.grads[i], g), `gradient ${i}`).toBeLessThan(1e-5);
        expect(g.some((v) => v !== 0), `gradient ${i} is not all zero`).toBe(true);
      });
    });
  }

  it('leaves no tensor behind, forward and backward, and runs in inference too', () => {
    const build = () => tfl.sequential({ layers: [tfl.layers.lstm({ inputShape: [6, 5], units: 7 }), head()] });
    const model = withSeededRandom(3, build);
    fuseRecurrentLayers(model);
    const x = tf.tensor(random(4 * 6 * 5, 5), [4, 6, 5]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      tf.tidy(() => {
        tf.variableGrads(() => tf.sum(model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
        model.predict(x);
      });
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('settings the fused op does not implement stay on the stock path', () => {
  it('dropout, recurrent dropout, returnState, goBackwards, stateful and other activations are not fused', () => {
    const layers = [
      tfl.layers.gru({ inputShape: [5, 4], units: 3, dropout: 0.2 }),
      tfl.layers.lstm({ inputShape: [5, 4], units: 3, recurrentDropout: 0.1 }),
      tfl.layers.gru({ inputShape: [5, 4], units: 3, goBackwards: true }),
      tfl.layers.lstm({ inputShape: [5, 4], units: 3, activation: 'elu' }),
      tfl.layers.simpleRNN({ inputShape: [5, 4], units: 3 }),
    ];
    for (const layer of layers) {
      expect(fuseRecurrentLayers(tfl.sequential({ layers: [layer] }))).toEqual([]);
    }
  });

  it('a mask passed in at call time (a Masking layer before the LSTM): the stock call, the same gradients', () => {
    const build = () => tfl.sequential({ layers: [tfl.layers.masking({ inputShape: [6, 5], maskValue: 0 }), tfl.layers.lstm({ units: 7 }), head()] });
    const stock = lossAndGrads(build, false, [4, 6, 5], true);
    const fused = lossAndGrads(build, true, [4, 6, 5], true);
    expect(fused.fused).toHaveLength(1); // fused, but this call carries a mask: the layer's own call ran
    stock.grads.forEach((g, i) => expect(maxRelDiff(fused.grads[i], g)).toBe(0));
  });
});
