// The wasm kernel replacements (src/model/wasm-kernels/) against the cpu backend's
// kernels, the oracle (Conv2DBackpropFilter, MaxPoolGrad, UnsortedSegmentSum, the
// depthwise gradients): the same inputs, random and all-negative, several shapes, strides
// and paddings, within 1e-5. Then the point of it: a Conv2D -> MaxPool -> Dense Layers
// model's gradient, by stock TF.js autodiff on wasm, equals the cpu backend's.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers'; // registers the gradients (docs/internals.md, engine decision 9)
import { Rng } from '../../src/data/rng.js';
import { initBackend } from '../../src/model/init-backend.js';
import { fuseLayers } from '../../src/model/fused/index.js';
import { withSeededRandom } from '../../src/task/load.js';
import '../../src/task/tf.js'; // the chained tensor methods the recurrent layers' initializer calls
import { maxRelDiff } from '../helpers.js';

beforeAll(async () => {
  await initBackend('wasm'); // registers the replacements
});

const random = (n: number, seed: number, shift = 0) => {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.next() * 2 - 1 + shift);
};

/** Runs kernel `name` on `backend` with inputs made there from the same values; returns the output's values. */
async function onBackend(backend: 'cpu' | 'wasm', name: string, inputs: Record<string, { values: Float32Array | Int32Array; shape: number[] }>, attrs: tf.NamedAttrMap): Promise<Float32Array> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const ts: tf.NamedTensorMap = {};
    for (const [k, v] of Object.entries(inputs)) ts[k] = tf.tensor(v.values, v.shape, v.values instanceof Int32Array ? 'int32' : 'float32');
    const out = tf.engine().runKernel(name, ts, attrs) as tf.Tensor;
    return out.dataSync() as Float32Array;
  });
}

/** The largest magnitude of `a` (a loop: spreading a large array into Math.max overflows the stack). */
const largest = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

async function agree(name: string, inputs: Parameters<typeof onBackend>[2], attrs: tf.NamedAttrMap): Promise<{ diff: number; cpu: Float32Array; wasm: Float32Array }> {
  const cpu = await onBackend('cpu', name, inputs, attrs);
  const wasm = await onBackend('wasm', name, inputs, attrs);
  expect(wasm).toHaveLength(cpu.length);
  return { diff: maxRelDiff(wasm, cpu), cpu, wasm };
}

/** Convolution cases for both gradients: [name, input shape, filter shape, strides, pad (-1: numeric pad 1 with the forward rounded up)]. */
const CONV_CASES: [string, number[], number[], number | [number, number], 'valid' | 'same' | number][] = [
  ['3x3, stride 1, valid', [4, 12, 12, 1], [3, 3, 1, 8], 1, 'valid'],
  ['3x3, stride 1, same', [3, 9, 11, 3], [3, 3, 3, 5], 1, 'same'],
  ['5x4, stride 1, explicit pad 2', [2, 10, 9, 2], [5, 4, 2, 4], 1, 2],
  ['3x3, stride 2, valid', [3, 13, 13, 2], [3, 3, 2, 4], 2, 'valid'],
  ['3x3, stride 2, same, even input', [2, 12, 11, 3], [3, 3, 3, 2], 2, 'same'],
  ['2x3, strides [2, 1], same', [2, 9, 8, 2], [2, 3, 2, 3], [2, 1], 'same'],
  ['4x4, stride 3, valid, rows and columns left over', [2, 14, 15, 2], [4, 4, 2, 3], 3, 'valid'],
  ['2x2, stride 2, same (even filter: padding at the end only)', [2, 7, 9, 3], [2, 2, 3, 4], 2, 'same'],
  ['1x1, stride 1, batch 1', [1, 5, 7, 6], [1, 1, 6, 3], 1, 'valid'],
  ['3x3, stride 1, same, batch 1, odd sizes', [1, 7, 5, 5], [3, 3, 5, 7], 1, 'same'],
  ['3x3, stride 1, explicit pads [[0,0],[1,2],[2,0],[0,0]]', [2, 8, 9, 2], [3, 3, 2, 3], 1, [[0, 0], [1, 2], [2, 0], [0, 0]] as unknown as number],
  // The forward rounded up (dimRoundingMode ceil); TF.js's gradient does not pass the
  // rounding mode to the backprop, so dy is larger than the kernel's own sizes say.
  ['3x3, stride 2, numeric pad 1, forward rounded up', [2, 10, 10, 2], [3, 3, 2, 3], 2, -1],
];

function convCase(xShape: number[], filterShape: number[], strides: number | [number, number], padCase: 'valid' | 'same' | number) {
  const ceil = padCase === -1;
  const pad = ceil ? 1 : padCase;
  const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number], strides, 1, pad, ceil ? 'ceil' : undefined);
  return {
    pad,
    x: { values: random(tf.util.sizeFromShape(xShape), 1), shape: xShape },
    filter: { values: random(tf.util.sizeFromShape(filterShape), 3), shape: filterShape },
    dy: { values: random(tf.util.sizeFromShape(info.outShape), 2), shape: info.outShape },
  };
}

describe('Conv2DBackpropFilter on wasm equals the cpu kernel (stride 1: a convolution; other strides: im2col and one matmul)', () => {
  for (const [name, xShape, filterShape, strides, padCase] of CONV_CASES) {
    it(name, async () => {
      const { pad, x, dy } = convCase(xShape, filterShape, strides, padCase);
      const r = await agree('Conv2DBackpropFilter', { x, dy }, { strides, pad, dataFormat: 'NHWC', filterShape });
      expect(r.diff).toBeLessThan(1e-5);
      expect(largest(r.cpu)).toBeGreaterThan(0.1); // not vacuous
    });
  }
});

describe('Conv2DBackpropInput on wasm equals the cpu kernel (a convolution of dy, dilated by the stride, with the turned filter)', () => {
  for (const [name, xShape, filterShape, strides, padCase] of CONV_CASES) {
    it(name, async () => {
      const { pad, filter, dy } = convCase(xShape, filterShape, strides, padCase);
      const before = (await tf.setBackend('wasm'), tf.engine().backend.numDataIds());
      const r = await agree('Conv2DBackpropInput', { dy, filter }, { strides, pad, dataFormat: 'NHWC', inputShape: xShape });
      await tf.setBackend('wasm');
      expect(tf.engine().backend.numDataIds()).toBe(before); // the turned filter and the dilated dy are freed
      expect(r.diff).toBeLessThan(1e-5);
      expect(largest(r.cpu)).toBeGreaterThan(0.1);
    });
  }
});

describe('MaxPoolGrad on wasm equals the cpu kernel (the built-in loses all-negative windows)', () => {
  const CASES: [string, number[], number, number, 'valid' | 'same' | number, number][] = [
    ['2x2 stride 2, normal inputs', [2, 26, 26, 8], 2, 2, 'valid', 0],
    ['2x2 stride 2, every value negative', [2, 26, 26, 8], 2, 2, 'valid', -2],
    ['3x3 stride 1 same (overlapping windows), mostly negative', [2, 9, 10, 3], 3, 1, 'same', -0.7],
    ['3x3 stride 2 same', [1, 11, 11, 4], 3, 2, 'same', 0],
    ['3x3 stride 2, numeric pad 1, forward rounded up', [2, 10, 10, 3], 3, 2, 1, -0.5],
    ['3x3 stride 3 valid, batch 1, odd sizes (rows and columns left over)', [1, 11, 10, 5], 3, 3, 'valid', 0],
    // After a ReLU: most values are exactly 0, so windows hold ties; the first one wins.
    ['2x2 stride 2, ties (values rounded to 0 and 1)', [2, 12, 12, 4], 2, 2, 'valid', -9],
  ];
  for (const [name, shape, size, stride, pad, shift] of CASES) {
    it(name, async () => {
      const values = shift === -9 ? random(tf.util.sizeFromShape(shape), 3).map((v) => (v > 0.5 ? 1 : 0)) : random(tf.util.sizeFromShape(shape), 3, shift);
      const ceil = typeof pad === 'number';
      const info = tf.backend_util.computePool2DInfo(shape as [number, number, number, number], size, stride, 1, pad, ceil ? 'ceil' : undefined);
      const dy = random(tf.util.sizeFromShape(info.outShape), 4);
      const { cpu, wasm } = await poolGrads(values, shape, dy, size, stride, pad, ceil);
      expect(maxRelDiff(wasm, cpu)).toBeLessThan(1e-5);
      // Every output window sends its gradient somewhere: as many non-zeros as the cpu kernel.
      expect(wasm.filter((v) => v !== 0).length).toBe(cpu.filter((v) => v !== 0).length);
    });
  }

  it('NaN in a window, a window of -Infinity, an infinite dy: the same values as the cpu kernel', async () => {
    const shape = [1, 4, 6, 2];
    const values = random(tf.util.sizeFromShape(shape), 5);
    values[0] = Number.NaN; // window (0, 0), channel 0: NaN first, the largest of the rest wins
    values[2 * 6 + 3] = Number.NaN; // window (1, 1), channel 1
    for (const [r, c] of [[0, 4], [0, 5], [1, 4], [1, 5]]) values[(r * 6 + c) * 2] = Number.NEGATIVE_INFINITY; // window (0, 2), channel 0
    const dy = random(12, 6);
    dy[1] = Number.POSITIVE_INFINITY;
    const { cpu, wasm } = await poolGrads(values, shape, dy, 2, 2, 'valid', false);
    expect(Array.from(wasm)).toEqual(Array.from(cpu));
  });
});

/**
 * MaxPoolGrad on each backend as TF.js's gradient calls it: that backend's own MaxPool
 * output (the wasm one is wrong when the forward rounds up), no rounding mode.
 */
async function poolGrads(values: Float32Array, shape: number[], dy: Float32Array, size: number, stride: number, pad: 'valid' | 'same' | number, ceil: boolean) {
  const forward = { filterSize: size, strides: stride, pad, ...(ceil ? { dimRoundingMode: 'ceil' } : {}) };
  const info = tf.backend_util.computePool2DInfo(shape as [number, number, number, number], size, stride, 1, pad, ceil ? 'ceil' : undefined);
  const grad = async (backend: 'cpu' | 'wasm') => {
    const output = await onBackend(backend, 'MaxPool', { x: { values, shape } }, forward);
    return onBackend(backend, 'MaxPoolGrad', { dy: { values: dy, shape: info.outShape }, input: { values, shape }, output: { values: output, shape: info.outShape } }, { filterSize: size, strides: stride, pad });
  };
  return { cpu: await grad('cpu'), wasm: await grad('wasm') };
}

describe('AvgPoolGrad on wasm equals the cpu kernel', () => {
  const CASES: [string, number[], number, number, 'valid' | 'same'][] = [
    ['2x2 stride 2 valid', [2, 26, 26, 8], 2, 2, 'valid'],
    ['3x3 stride 1 same (overlapping windows)', [2, 9, 10, 3], 3, 1, 'same'],
    ['3x3 stride 2 same, batch 1', [1, 11, 11, 4], 3, 2, 'same'],
    ['2x2 stride 2 valid, odd sizes', [3, 7, 9, 5], 2, 2, 'valid'],
  ];
  for (const [name, shape, size, stride, pad] of CASES) {
    it(name, async () => {
      const info = tf.backend_util.computePool2DInfo(shape as [number, number, number, number], size, stride, 1, pad);
      const dy = { values: random(tf.util.sizeFromShape(info.outShape), 4), shape: info.outShape };
      const r = await agree('AvgPoolGrad', { dy, input: { values: random(tf.util.sizeFromShape(shape), 3), shape } }, { filterSize: size, strides: stride, pad });
      expect(r.diff).toBeLessThan(1e-5);
      expect(largest(r.cpu)).toBeGreaterThan(0.01);
    });
  }
});

describe('BatchMatMul with transposed operands on wasm equals the cpu kernel (the wrapper transposes first)', () => {
  const CASES: [string, number[], number[], boolean, boolean][] = [
    ['a^T . b (a Dense weight gradient)', [1, 64, 30], [1, 64, 10], true, false],
    ['a . b^T (a Dense input gradient)', [1, 64, 10], [1, 30, 10], false, true],
    ['a^T . b^T', [1, 7, 5], [1, 3, 7], true, true],
    ['batch of 3, a^T . b', [3, 6, 4], [3, 6, 5], true, false],
    ['plain (passed through)', [1, 5, 6], [1, 6, 4], false, false],
  ];
  for (const [name, aShape, bShape, transposeA, transposeB] of CASES) {
    it(name, async () => {
      const a = { values: random(tf.util.sizeFromShape(aShape), 5), shape: aShape };
      const b = { values: random(tf.util.sizeFromShape(bShape), 6), shape: bShape };
      const before = (await tf.setBackend('wasm'), tf.engine().backend.numDataIds());
      const { diff } = await agree('BatchMatMul', { a, b }, { transposeA, transposeB });
      await tf.setBackend('wasm');
      expect(tf.engine().backend.numDataIds()).toBe(before); // the transposed temporaries are freed
      expect(diff).toBeLessThan(1e-5);
    });
  }
});

describe('UnsortedSegmentSum on wasm equals the cpu kernel', () => {
  it('rows summed into their segments; ids outside [0, numSegments) dropped', async () => {
    const ids = Int32Array.from([0, 3, 3, 5, -1, 1, 0, 9, 2, 3]);
    const r = await agree('UnsortedSegmentSum', { x: { values: random(40, 5), shape: [10, 4] }, segmentIds: { values: ids, shape: [10] } }, { numSegments: 6 });
    expect(r.diff).toBeLessThan(1e-6);
    expect(r.wasm).toHaveLength(24);
  });
});

describe('DepthwiseConv2dNative gradients on wasm equal the cpu kernels (input: a depthwise convolution of dy; filter: a loop in memory order)', () => {
  const CASES: [string, number[], number[], number | [number, number], 'valid' | 'same'][] = [
    ['3x3, multiplier 1, stride 1, valid', [2, 10, 10, 3], [3, 3, 3, 1], 1, 'valid'],
    ['3x3, multiplier 2, stride 1, same', [2, 9, 11, 2], [3, 3, 2, 2], 1, 'same'],
    ['5x3, multiplier 3, stride 2, same', [2, 12, 11, 2], [5, 3, 2, 3], 2, 'same'],
    ['2x2, multiplier 1, strides [2, 1], valid', [1, 9, 8, 4], [2, 2, 4, 1], [2, 1], 'valid'],
    ['3x3, multiplier 1, stride 3, valid, batch 1, rows and columns left over', [1, 11, 13, 5], [3, 3, 5, 1], 3, 'valid'],
    ['4x4, multiplier 2, stride 2, same (even filter: padding at the end only), odd sizes', [3, 7, 9, 3], [4, 4, 3, 2], 2, 'same'],
  ];
  for (const [name, xShape, filterShape, strides, pad] of CASES) {
    it(name, async () => {
      const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number], strides, 1, pad, undefined, true);
      const x = { values: random(tf.util.sizeFromShape(xShape), 7), shape: xShape };
      const filter = { values: random(tf.util.sizeFromShape(filterShape), 8), shape: filterShape };
      const dy = { values: random(tf.util.sizeFromShape(info.outShape), 9), shape: info.outShape };
      const attrs = { strides, pad, dilations: 1 };
      const dw = await agree('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape });
      expect(dw.diff).toBeLessThan(1e-5);
      const dx = await agree('DepthwiseConv2dNativeBackpropInput', { dy, filter }, { ...attrs, inputShape: xShape });
      expect(dx.diff).toBeLessThan(1e-5);
      expect(largest(dx.cpu)).toBeGreaterThan(0.1);
    });
  }
});

/**
 * The gradient of every trainable weight of `build()`'s model on x, y, under `backend`,
 * from the given weights (else the model's own, seeded). `fuse`: the way the trainer's
 * workers run it, its layers fused (src/model/fused/); on wasm the replacement kernels
 * run either way.
 */
async function modelGrads(backend: 'cpu' | 'wasm', build: () => tfl.LayersModel, x: () => tf.Tensor, y: () => tf.Tensor, weights: Float32Array[] | null, fuse = false) {
  await tf.setBackend(backend);
  const model = withSeededRandom(7, build);
  if (weights) model.setWeights(weights.map((w, i) => tf.tensor(w, model.getWeights()[i].shape)));
  const fused = fuse ? fuseLayers(model) : [];
  const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y(), model.apply(x(), { training: true }) as tf.Tensor) as tf.Scalar);
  return {
    fused,
    grads: model.trainableWeights.map((w) => grads[(w as unknown as { val: tf.Variable }).val.name].dataSync() as Float32Array),
    weights: model.getWeights().map((w) => w.dataSync() as Float32Array),
  };
}

const oneHot = (rows: number, classes: number) => tf.tensor2d(Float32Array.from({ length: rows * classes }, (_, i) => (i % classes === Math.floor(i / classes) % classes ? 1 : 0)), [rows, classes]);
const images = (rows: number, shape: number[], seed: number) => () => tf.tensor(random(rows * shape.reduce((a, b) => a * b, 1), seed, 0.3), [rows, ...shape]);
const dense10 = () => tfl.layers.dense({ units: 10, activation: 'softmax' });

describe('a Layers model\'s gradient on wasm, as the workers take it (and with every layer stock), equals stock TF.js on the cpu backend (within 1e-5)', () => {
  // [name, model, input, trainable weights, layers the workers fuse]
  const MODELS: [string, () => tfl.LayersModel, () => tf.Tensor, number, number][] = [
    ['the two-conv CNN (examples/cnn-two-conv.mjs)', () => tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, activation: 'relu' }),
        tfl.layers.maxPooling2d({ poolSize: 2 }),
        tfl.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu' }),
        tfl.layers.maxPooling2d({ poolSize: 2 }),
        tfl.layers.flatten(), dense10(),
      ],
    }), images(16, [28, 28, 1], 6), 6, 3],
    ['a CNN with stride 2 and same padding, average pooling', () => tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [15, 15, 3], filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }),
        tfl.layers.conv2d({ filters: 5, kernelSize: 2, strides: 2, padding: 'same' }),
        tfl.layers.averagePooling2d({ poolSize: 2, strides: 1 }),
        tfl.layers.flatten(), dense10(),
      ],
    }), images(9, [15, 15, 3], 11), 6, 3],
    ['DepthwiseConv2D (multiplier 2, stride 2) -> Flatten -> Dense', () => tfl.sequential({
      layers: [
        tfl.layers.depthwiseConv2d({ inputShape: [12, 12, 3], kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same' }),
        tfl.layers.flatten(), dense10(),
      ],
    }), () => tf.tensor4d(random(8 * 12 * 12 * 3, 10), [8, 12, 12, 3]), 4, 1],
    ['Embedding -> Flatten -> Dense', () => tfl.sequential({
      layers: [tfl.layers.embedding({ inputDim: 20, outputDim: 4, inputLength: 6 }), tfl.layers.flatten(), dense10()],
    }), () => tf.tensor2d(Float32Array.from({ length: 8 * 6 }, (_, i) => (i * 7) % 20), [8, 6]), 3, 1],
    ['LSTM(12) over 9 time steps -> Dense', () => tfl.sequential({
      layers: [tfl.layers.lstm({ inputShape: [9, 7], units: 12 }), dense10()],
    }), images(10, [9, 7], 12), 5, 2],
    ['GRU(12), every time step, -> GRU(8) -> Dense', () => tfl.sequential({
      layers: [tfl.layers.gru({ inputShape: [9, 7], units: 12, returnSequences: true }), tfl.layers.gru({ units: 8 }), dense10()],
    }), images(10, [9, 7], 13), 8, 3],
  ];
  for (const [name, build, x, count, fused] of MODELS) {
    it(name, async () => {
      const rows = x().shape[0];
      const cpu = await modelGrads('cpu', build, x, () => oneHot(rows, 10), null);
      // The workers' way (fused layers), and every layer stock on the replacement kernels.
      for (const fuse of [true, false]) {
        const wasm = await modelGrads('wasm', build, x, () => oneHot(rows, 10), cpu.weights, fuse);
        expect(wasm.fused).toHaveLength(fuse ? fused : 0);
        expect(wasm.grads).toHaveLength(count);
        for (let i = 0; i < count; i++) {
          expect(maxRelDiff(wasm.grads[i], cpu.grads[i]), `gradient ${i}${fuse ? ', fused' : ''}`).toBeLessThan(1e-5);
          expect(largest(cpu.grads[i]), `gradient ${i} is not all zero`).toBeGreaterThan(0);
        }
      }
    });
  }
});

describe('a kernel the wasm backend lacks is named with the layer that needs it', () => {
  it('MaxPoolGrad unregistered: the CNN task names its MaxPooling2D layer', async () => {
    const { resolveSettings } = await import('../../src/settings/config.js');
    const { taskOf } = await import('../../src/run/model-plan.js');
    const { planPath } = await import('../../src/paths/registry.js');
    const { GeneralModel } = await import('../../src/paths/general/model.js');
    const { mnistData } = await import('../helpers.js');
    const { join } = await import('node:path');
    const { PROJECT_ROOT } = await import('../../src/files/paths.js');
    await tf.setBackend('wasm');
    const config = resolveSettings({ task: join(PROJECT_ROOT, 'examples', 'cnn-masked.mjs'), limit: 256 });
    const task = await taskOf(config, 784);
    const run = await planPath(config, mnistData(), task);
    const g = await GeneralModel.create(run.topology!, run.layout, task, false);
    const weights = new Float32Array(run.layout.numParams);
    run.init(weights);
    g.setWeights(weights);
    const kernel = tf.getKernel('MaxPoolGrad', 'wasm')!;
    tf.unregisterKernel('MaxPoolGrad', 'wasm');
    try {
      let error: unknown;
      try {
        g.gradient(2, new Float32Array(2 * 784).fill(0.5), run.labelRows!.train.subarray(0, 22), new Float32Array(run.layout.numParams));
      } catch (e) {
        error = e;
      }
      expect(String(error)).toContain("Kernel 'MaxPoolGrad' not registered for backend 'wasm'");
      expect(g.explainMissingKernel(error)).toBe(`${task.name}: layer max_pooling2d (MaxPooling2D) needs the kernel 'MaxPoolGrad', which the wasm backend does not have (--backend cpu has every kernel, slowly)`);
      expect(g.explainMissingKernel(new Error('something else'))).toBeNull();
    } finally {
      tf.registerKernel(kernel);
    }
  });
});
