// The general path's oracles. A task's model on N real worker threads (wasm, its shard
// each) reduces to the gradient that one process computes on the full batch with stock
// TF.js on the cpu backend; the general path equals the hand-written fast path on the
// seed MLP; BatchNormalization keeps shard 0's moving statistics; one trainer step
// equals tfjs-layers' own fitDataset step with the same loss and Adam.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { models } from '@tensorflow/tfjs-layers';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { join } from 'node:path';
import { closePool } from '../../src/engine/pool.js';
import type { WorkerPool } from '../../src/engine/pool.js';
import { planShards, splitShards } from '../../src/engine/shards.js';
import { oneStepGradient } from '../../src/engine/step-loops.js';
import { paramView } from '../../src/model/layout.js';
import { resolveSettings } from '../../src/settings/config.js';
import type { Config } from '../../src/settings/config.js';
import type { RunModel } from '../../src/paths/path.js';
import type { loadShared } from '../../src/run/start.js';
import { PROJECT_ROOT } from '../../src/files/paths.js';
import { tf as tfNamespace } from '../../src/task/tf.js';
import { train } from '../../src/index.js';
import { maxRelDiff, planOf, startPlan } from '../helpers.js';

const NUM_TRAIN = 2000;
const example = (name: string) => join(PROJECT_ROOT, 'examples', name);

beforeAll(async () => {
  await tf.setBackend('cpu'); // this thread is the reference: stock TF.js, pure JS kernels
});

interface Setup {
  config: Config;
  run: RunModel;
  shared: ReturnType<typeof loadShared>;
  wp: WorkerPool;
}

/** A plan of these settings on the first NUM_TRAIN rows (as the CLI plans it), its shared memory and a pool. */
async function setUp(settings: Record<string, unknown>): Promise<Setup> {
  const config = resolveSettings({ limit: NUM_TRAIN, ...settings });
  const plan = await planOf(config);
  const { wp, ...shared } = await startPlan(plan);
  return { config, run: plan.model, shared, wp };
}

/** Rows of the batch as the model takes them, and their combined labels, from the shared dataset. */
function batchTensors(s: Setup, batch: Int32Array) {
  const { views } = s.shared;
  const n = 784;
  const w = s.run.task.labelWidth;
  const x = new Float32Array(batch.length * n);
  const y = new Float32Array(batch.length * w);
  batch.forEach((i, r) => {
    for (let k = 0; k < n; k++) x[r * n + k] = views.trainImages[i * n + k] / 255;
    y.set(views.trainY.subarray(i * w, (i + 1) * w), r * w);
  });
  return { x, y };
}

/** The reference model: rebuilt from the run's topology in this thread, with the shared weights. */
async function referenceModel(s: Setup): Promise<LayersModel> {
  const model = await models.modelFromJSON(s.run.topology as never);
  model.setWeights(s.run.layout.params.map((p) => tf.tensor(paramView(s.shared.views.weights, p).slice(), p.shape)));
  return model;
}

/** One process, the whole batch, stock autodiff on the cpu backend: the gradient of sum(loss) / normaliser, flat in layout order. */
async function fullBatchGradient(s: Setup, batch: Int32Array, normalize: 'batch' | 'weight'): Promise<Float32Array> {
  const model = await referenceModel(s);
  const { x, y } = batchTensors(s, batch);
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  const task = s.run.task.module;
  const out = new Float32Array(s.run.layout.numParams);
  tf.tidy(() => {
    const xt = tf.tensor(x, [batch.length, ...inputShape]);
    const yt = tf.tensor2d(y, [batch.length, s.run.task.labelWidth]);
    const normaliser = normalize === 'batch' ? batch.length : tf.sum(task.weight!({ tf: tfNamespace }, yt)).dataSync()[0];
    const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
    const { grads } = tf.variableGrads(() => tf.div(tf.sum(task.loss({ tf: tfNamespace }, yt, model.apply(xt, { training: true }) as tf.Tensor)), normaliser) as tf.Scalar, vars);
    model.weights.forEach((w, i) => {
      if (w.trainable) out.set(grads[(w as unknown as { val: tf.Variable }).val.name].dataSync() as Float32Array, s.run.layout.params[i].offset);
    });
  });
  model.dispose();
  return out;
}

describe.each([1, 2, 3])('the CNN task on %i worker(s) against one process on the full batch', (workers) => {
  const batchSize = 50; // 17 + 17 + 16 rows with 3 workers
  let s: Setup;
  beforeAll(async () => {
    s = await setUp({ task: example('cnn-masked.mjs'), workers, batchSize, seed: 5, normalize: 'weight' });
  });
  afterAll(async () => {
    if (s) await closePool(s.wp);
  });
  for (const normalize of ['batch', 'weight'] as const) {
    it(`reduced gradient within 1e-5 (normalize ${normalize})`, async () => {
      const batch = Int32Array.from({ length: batchSize }, (_, i) => 7 + 13 * i);
      s.shared.views.batch.set(batch);
      const grad = new Float32Array(s.run.layout.numParams);
      const g = await oneStepGradient(s.wp, s.shared.views, planShards(batchSize, workers), normalize, grad);
      const ref = await fullBatchGradient(s, batch, normalize);
      expect(maxRelDiff(grad, ref)).toBeLessThan(1e-5);
      expect(Math.max(...grad.map(Math.abs))).toBeGreaterThan(1e-3); // not vacuous
      const odd = [...batch].filter((i) => s.shared.views.trainLabels[i] % 2 === 1).length;
      expect(g.normaliser).toBe(normalize === 'batch' ? batchSize : odd);
    });
  }
});

describe.each([1, 3])('the LSTM task (fused on the workers) on %i worker(s) against one process on the full batch', (workers) => {
  it('reduced gradient within 1e-5', async () => {
    const s = await setUp({ task: example('lstm-rows.mjs'), workers, batchSize: 50, seed: 5 });
    try {
      const batch = Int32Array.from({ length: 50 }, (_, i) => 5 + 17 * i);
      s.shared.views.batch.set(batch);
      const grad = new Float32Array(s.run.layout.numParams);
      await oneStepGradient(s.wp, s.shared.views, planShards(50, workers), 'batch', grad);
      expect(maxRelDiff(grad, await fullBatchGradient(s, batch, 'batch'))).toBeLessThan(1e-5);
      expect(Math.max(...grad.map(Math.abs))).toBeGreaterThan(1e-3);
    } finally {
      await closePool(s.wp);
    }
  });
});

describe.each([1, 3])('a model with two outputs (examples/two-heads.mjs) on %i worker(s) against one process on the full batch', (workers) => {
  it('reduced gradient within 1e-5: the loss gets the list of outputs on both sides', async () => {
    const s = await setUp({ task: example('two-heads.mjs'), workers, batchSize: 50, seed: 5 });
    try {
      const batch = Int32Array.from({ length: 50 }, (_, i) => 3 + 19 * i);
      s.shared.views.batch.set(batch);
      const grad = new Float32Array(s.run.layout.numParams);
      await oneStepGradient(s.wp, s.shared.views, planShards(50, workers), 'batch', grad);
      expect(maxRelDiff(grad, await fullBatchGradient(s, batch, 'batch'))).toBeLessThan(1e-5);
      // Both heads get a gradient: the odd head's kernel is the last but one parameter.
      const odd = s.run.layout.params.find((p) => p.name === 'odd/kernel')!;
      expect(Math.max(...grad.subarray(odd.offset, odd.offset + odd.size).map(Math.abs))).toBeGreaterThan(1e-4);
    } finally {
      await closePool(s.wp);
    }
  });
});

describe('a model with two outputs: the evaluation', () => {
  it("reports each built-in metric per output (Keras' names), the class report of the first output, and its accuracy metric equals that report's", async () => {
    const r = await train({ task: example('two-heads.mjs'), limit: 1280, epochs: 1, evaluate: 'test', validationSplit: 0.2 });
    const test = r.eval!.test!;
    if (!('accuracy' in test)) throw new Error('expected the class report of the first output');
    expect(Object.keys(test.metrics!)).toEqual(['digit_accuracy', 'odd_accuracy', 'digit_binaryAccuracy', 'odd_binaryAccuracy']);
    expect(test.metrics!.digit_accuracy).toBeCloseTo(test.accuracy, 6);
    expect(test.metrics!.odd_accuracy).toBe(test.metrics!.odd_binaryAccuracy); // a 1-column output's accuracy is binary, as Keras resolves it
    expect(Object.keys(r.history.history).filter((k) => k.startsWith('val_')).sort()).toEqual(['val_digit_accuracy', 'val_digit_binaryAccuracy', 'val_loss', 'val_odd_accuracy', 'val_odd_binaryAccuracy']);
  });
});

describe('the weighted-sample task: weights in [0, 1] normalised by their global sum', () => {
  it.each([1, 3])('%i worker(s) equal one process within 1e-5', async (workers) => {
    const s = await setUp({ task: example('weighted.mjs'), workers, batchSize: 64, normalize: 'weight' });
    try {
      const batch = Int32Array.from({ length: 64 }, (_, i) => 3 + 29 * i);
      s.shared.views.batch.set(batch);
      const grad = new Float32Array(s.run.layout.numParams);
      const g = await oneStepGradient(s.wp, s.shared.views, planShards(64, workers), 'weight', grad);
      const digitSum = [...batch].reduce((a, i) => a + s.shared.views.trainLabels[i] / 9, 0);
      expect(g.normaliser).toBeCloseTo(digitSum, 4);
      expect(maxRelDiff(grad, await fullBatchGradient(s, batch, 'weight'))).toBeLessThan(1e-5);
    } finally {
      await closePool(s.wp);
    }
  });
});

describe('the general path against the fast path on the seed MLP', () => {
  it.each([1, 2])('%i worker(s): the same reduced gradient within 1e-6', async (workers) => {
    const grads: Float32Array[] = [];
    for (const engine of ['fast', 'general'] as const) {
      const s = await setUp({ workers, batchSize: 128, engine: engine === 'fast' ? 'auto' : 'general' });
      try {
        expect(s.wp.threads.length).toBe(workers);
        s.shared.views.batch.set(Int32Array.from({ length: 128 }, (_, i) => 11 * i));
        const grad = new Float32Array(s.run.layout.numParams);
        await oneStepGradient(s.wp, s.shared.views, planShards(128, workers), 'batch', grad);
        grads.push(grad);
        expect(s.run.path).toBe(engine);
      } finally {
        await closePool(s.wp);
      }
    }
    expect(grads[0].length).toBe(grads[1].length);
    expect(maxRelDiff(grads[1], grads[0])).toBeLessThan(1e-6);
    expect(Math.max(...grads[0].map(Math.abs))).toBeGreaterThan(1e-3);
  });
});

describe('BatchNormalization: its moving statistics are those of shard 0 after the step', () => {
  it('2 workers: the moving mean and variance equal one process on shard 0 rows alone', async () => {
    const s = await setUp({ task: example('batchnorm-dropout.mjs'), workers: 2, batchSize: 40 });
    try {
      const batch = Int32Array.from({ length: 40 }, (_, i) => 5 + 17 * i);
      s.shared.views.batch.set(batch);
      const before = s.shared.views.weights.slice();
      const ref = await referenceModel(s);
      const grad = new Float32Array(s.run.layout.numParams);
      await oneStepGradient(s.wp, s.shared.views, planShards(40, 2), 'batch', grad);
      // What shard 0 leaves in `state`, which the update phase copies into the new weights.
      // Reference: a training forward pass on shard 0 (rows 0..19) in this thread.
      const [start, end] = splitShards(40, 2)[0];
      const { x } = batchTensors(s, batch.subarray(start, end));
      tf.tidy(() => { ref.apply(tf.tensor(x, [end - start, 28, 28]), { training: true }); });
      const stateIdx = s.run.trainable.map((t, i) => (t ? -1 : i)).filter((i) => i >= 0);
      expect(stateIdx.map((i) => s.run.layout.params[i].name)).toEqual(['batch_normalization/moving_mean', 'batch_normalization/moving_variance']);
      for (const i of stateIdx) {
        const p = s.run.layout.params[i];
        const expected = ref.weights[i].read().dataSync() as Float32Array;
        const got = paramView(s.shared.views.state, p);
        expect(maxRelDiff(got, expected)).toBeLessThan(1e-5);
        expect(maxRelDiff(got, paramView(before, p))).toBeGreaterThan(1e-4); // they moved
      }
      ref.dispose();
    } finally {
      await closePool(s.wp);
    }
  });
});

describe('one trainer step against tfjs-layers fitDataset (same loss, Adam, one thread)', () => {
  it('the CNN task: 2 workers, one step of 64 rows, equals fitDataset within 1e-5 of the step', async () => {
    const settings = { task: example('cnn-masked.mjs'), workers: 2, batchSize: 64, limit: 64, epochs: 1, lr: 0.1, eps: 1, seed: 9 };
    const s = await setUp(settings);
    await closePool(s.wp);
    const init = s.shared.views.weights.slice();
    const result = await train(settings);
    expect(result.steps).toBe(1);
    // The reference: the same model and initial weights, compiled with the task's loss
    // and tf.train.adam, one fitDataset epoch of one batch (rows 0..63, the --limit rows).
    const model = await referenceModel(s);
    const batch = Int32Array.from({ length: 64 }, (_, i) => i);
    const { x, y } = batchTensors(s, batch);
    const task = s.run.task.module;
    model.compile({ optimizer: tf.train.adam(0.1, 0.9, 0.999, 1), loss: (yt: tf.Tensor, yp: tf.Tensor) => task.loss({ tf: tfNamespace }, yt, yp) });
    const xs = tf.tensor(x, [64, 28, 28]);
    const ys = tf.tensor2d(y, [64, 11]);
    let served = false;
    const dataset = { iterator: async () => ({ next: async () => (served ? { done: true, value: null } : ((served = true), { done: false, value: { xs, ys } })) }) };
    await model.fitDataset(dataset as never, { epochs: 1, batchesPerEpoch: 1, verbose: 0 });
    const ref = new Float32Array(init.length);
    model.getWeights().forEach((w, i) => ref.set(w.dataSync() as Float32Array, s.run.layout.params[i].offset));
    const step = ref.map((v, i) => v - init[i]);
    const diff = result.weights.map((v, i) => v - ref[i]);
    expect(Math.max(...step.map(Math.abs))).toBeGreaterThan(1e-3); // the step moved the weights
    expect(Math.max(...diff.map(Math.abs)) / Math.max(...step.map(Math.abs))).toBeLessThan(1e-5);
    model.dispose();
    tf.dispose([xs, ys]);
  });
});
