// The fused layers (src/model/fused/) against stock tfjs-layers on the same backend
// (cpu: pure JS kernels), so only the fusion differs: the loss and every weight's
// gradient within 1e-5 for GRU and LSTM (their activations, every time step's output,
// no bias), Dense and Conv2D (ReLU and linear inside the op, other activations after
// it, strides and padding, no bias); the settings they do not implement stay on the
// stock path; no tensor is left behind.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { Rng } from '../../src/data/rng.js';
import { fuseLayers } from '../../src/model/fused/index.js';
import { withSeededRandom } from '../../src/task/load.js';
import '../../src/task/tf.js'; // the chained tensor methods the recurrent layers' initializer calls
import { maxRelDiff } from '../helpers.js';

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
  const fused = fuse ? fuseLayers(model) : [];
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

/** The model fused (`layers` of its layers) and stock give the same loss and gradients within 1e-5, none of them all zero. */
function expectFusedAsStock(build: () => tfl.LayersModel, input: number[], layers: number): void {
  const stock = lossAndGrads(build, false, input);
  const fused = lossAndGrads(build, true, input);
  expect(fused.fused).toHaveLength(layers);
  expect(Math.abs(fused.loss - stock.loss)).toBeLessThan(1e-5 * Math.abs(stock.loss));
  expect(fused.grads).toHaveLength(stock.grads.length);
  stock.grads.forEach((g, i) => {
    expect(maxRelDiff(fused.grads[i], g), `gradient ${i}`).toBeLessThan(1e-5);
    expect(g.some((v) => v !== 0), `gradient ${i} is not all zero`).toBe(true);
  });
}

describe('fused GRU and LSTM layers equal stock tfjs-layers (cpu backend, within 1e-5)', () => {
  const CASES: [string, () => tfl.LayersModel, number[], number][] = [
    ['GRU, the defaults (tanh, hardSigmoid)', () => tfl.sequential({ layers: [tfl.layers.gru({ inputShape: [6, 5], units: 7 }), head()] }), [4, 6, 5], 2],
    ['LSTM, the defaults (tanh, hardSigmoid)', () => tfl.sequential({ layers: [tfl.layers.lstm({ inputShape: [6, 5], units: 7 }), head()] }), [4, 6, 5], 2],
    ['GRU (sigmoid, every time step) -> LSTM (relu, no bias)', () => tfl.sequential({
      layers: [
        tfl.layers.gru({ inputShape: [5, 4], units: 6, recurrentActivation: 'sigmoid', returnSequences: true }),
        tfl.layers.lstm({ units: 5, activation: 'relu', useBias: false }), head(),
      ],
    }), [3, 5, 4], 3],
    ['LSTM (linear, hardSigmoid, every time step) -> Flatten, batch 1, two time steps', () => tfl.sequential({
      layers: [tfl.layers.lstm({ inputShape: [2, 3], units: 4, activation: 'linear', returnSequences: true }), tfl.layers.flatten(), head()],
    }), [1, 2, 3], 2],
    ['GRU over the 28 rows of an image, as examples/gru-rows.mjs', () => tfl.sequential({
      layers: [tfl.layers.gru({ inputShape: [28, 28], units: 32 }), head()],
    }), [8, 28, 28], 2],
  ];
  for (const [name, build, input, layers] of CASES) it(name, () => expectFusedAsStock(build, input, layers));

  it('leaves no tensor behind, forward and backward, and runs in inference too', () => {
    const build = () => tfl.sequential({ layers: [tfl.layers.lstm({ inputShape: [6, 5], units: 7 }), head()] });
    const model = withSeededRandom(3, build);
    fuseLayers(model);
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

describe('fused Dense and Conv2D layers equal stock tfjs-layers (cpu backend, within 1e-5)', () => {
  const CASES: [string, () => tfl.LayersModel, number[], number][] = [
    ['Dense relu -> Dense tanh -> Dense softmax (after the op), the seed\'s kind of MLP', () => tfl.sequential({
      layers: [
        tfl.layers.flatten({ inputShape: [4, 5] }),
        tfl.layers.dense({ units: 12, activation: 'relu' }),
        tfl.layers.dense({ units: 9, activation: 'tanh', useBias: false }),
        head(),
      ],
    }), [6, 4, 5], 3],
    ['Conv2D relu (same, stride 2) -> Conv2D linear, no bias (valid) -> MaxPooling2D -> Dense', () => tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [11, 10, 3], filters: 5, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }),
        tfl.layers.conv2d({ filters: 4, kernelSize: [2, 3], useBias: false }),
        tfl.layers.maxPooling2d({ poolSize: 2 }),
        tfl.layers.flatten(), head(),
      ],
    }), [3, 11, 10, 3], 3],
    ['Conv2D sigmoid (after the op) -> Dense relu -> Dense', () => tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3, activation: 'sigmoid' }),
        tfl.layers.flatten(), tfl.layers.dense({ units: 5, activation: 'relu' }), head(),
      ],
    }), [4, 6, 6, 2], 3],
  ];
  for (const [name, build, input, layers] of CASES) it(name, () => expectFusedAsStock(build, input, layers));

  it('the input\'s gradient flows through a fused layer that has a trainable layer before it', () => {
    // Dense -> Dense: the second layer's input gradient reaches the first layer's weights.
    const build = () => tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [5], units: 4, activation: 'relu' }), tfl.layers.dense({ units: 10, activation: 'softmax' })] });
    const stock = lossAndGrads(build, false, [7, 5]);
    const fused = lossAndGrads(build, true, [7, 5]);
    stock.grads.forEach((g, i) => expect(maxRelDiff(fused.grads[i], g)).toBeLessThan(1e-5));
  });
});

describe('settings the fused op does not implement stay on the stock path', () => {
  it('dropout, recurrent dropout, returnState, goBackwards, other activations, dilated and channels-first convolutions are not fused', () => {
    const layers = [
      tfl.layers.conv2d({ inputShape: [8, 8, 2], filters: 3, kernelSize: 3, dilationRate: 2 }),
      tfl.layers.conv2d({ inputShape: [2, 8, 8], filters: 3, kernelSize: 3, dataFormat: 'channelsFirst' }),
      tfl.layers.gru({ inputShape: [5, 4], units: 3, dropout: 0.2 }),
      tfl.layers.lstm({ inputShape: [5, 4], units: 3, recurrentDropout: 0.1 }),
      tfl.layers.gru({ inputShape: [5, 4], units: 3, goBackwards: true }),
      tfl.layers.lstm({ inputShape: [5, 4], units: 3, activation: 'elu' }),
      tfl.layers.simpleRNN({ inputShape: [5, 4], units: 3 }),
    ];
    for (const layer of layers) {
      expect(fuseLayers(tfl.sequential({ layers: [layer] }))).toEqual([]);
    }
  });

  it('a mask passed in at call time (a Masking layer before the LSTM): the stock call, the same gradients', () => {
    const build = () => tfl.sequential({ layers: [tfl.layers.masking({ inputShape: [6, 5], maskValue: 0 }), tfl.layers.lstm({ units: 7 }), head()] });
    const stock = lossAndGrads(build, false, [4, 6, 5], true);
    const fused = lossAndGrads(build, true, [4, 6, 5], true);
    expect(fused.fused).toHaveLength(2); // the LSTM fused, but this call carries a mask: the layer's own call ran
    stock.grads.forEach((g, i) => expect(maxRelDiff(fused.grads[i], g)).toBe(0));
  });
});
