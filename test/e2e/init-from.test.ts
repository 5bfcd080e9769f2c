// --init-from: fine-tuning from a saved TensorFlow.js Layers model. The run's first
// weights are the file's, matched by name and shape: from a checkpoint of a built-in
// run, from an MLP and from a task's CNN saved by stock TF.js (auto-named layers, another
// process's counter); a mismatch is refused naming the first difference; a layer the
// task freezes stays byte for byte what was loaded.
import { describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { train } from '../../src/index.js';
import { resolveSettings } from '../../src/settings/config.js';
import { PROJECT_ROOT } from '../../src/files/paths.js';
import { planOf, runCli, tmpDir } from '../helpers.js';

const CNN = join(PROJECT_ROOT, 'examples', 'cnn-masked.mjs');
const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Saves `model` as tfjs-node's file:// handler would: DIR/model.json and DIR/weights.bin. */
async function saveStock(model: tf.LayersModel, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await model.save(tf.io.withSaveHandler(async (a) => {
    writeFileSync(join(dir, 'weights.bin'), Buffer.from(a.weightData as ArrayBuffer));
    writeFileSync(join(dir, 'model.json'), JSON.stringify({
      modelTopology: a.modelTopology, format: a.format, generatedBy: a.generatedBy, convertedBy: a.convertedBy,
      weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
    }));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
}

/** A model's weights, flat, in the order of its getWeights(). */
const flat = (m: tf.LayersModel) => Float32Array.from(m.getWeights().flatMap((w) => Array.from(w.dataSync())));

describe('--init-from', () => {
  it("a built-in run's checkpoint: the first weights are its weights, byte for byte, and training goes on from them", async () => {
    const dir = join(tmpDir('init-ckpt-'), 'ckpt');
    const first = await train({ limit: 3200, epochs: 2, checkpointDir: dir, evaluate: 'none' });
    const plan = await planOf(resolveSettings({ limit: 3200, initFrom: dir }));
    expect(bytes(plan.initFrom!).equals(bytes(first.weights))).toBe(true);
    const losses: number[] = [];
    const fresh: number[] = [];
    await train({ limit: 3200, epochs: 1, initFrom: dir, evaluate: 'none', callbacks: { onBatchEnd: (_s, l) => losses.push(l.loss) } });
    await train({ limit: 3200, epochs: 1, evaluate: 'none', callbacks: { onBatchEnd: (_s, l) => fresh.push(l.loss) } });
    expect(losses[0]).toBeLessThan(fresh[0] / 2); // starts where the first run ended, not from scratch
  });

  it('an MLP saved by stock TF.js (auto-named layers of another counter): its weights in the layout order', async () => {
    await tf.setBackend('cpu');
    tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [2] })] }); // moves the name counter on
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 64, activation: 'relu', inputShape: [784] }), tf.layers.dense({ units: 10, activation: 'softmax' })] });
    expect(model.layers[0].name).toMatch(/^dense_Dense\d+$/);
    expect(model.layers[0].name).not.toBe('dense_Dense1');
    const dir = join(tmpDir('init-stock-'), 'mlp');
    await saveStock(model, dir);
    const plan = await planOf(resolveSettings({ limit: 1280, initFrom: join(dir, 'model.json') }));
    expect(plan.model.layout.params.map((p) => p.name)).toEqual(['dense/kernel', 'dense/bias', 'dense_1/kernel', 'dense_1/bias']);
    expect(bytes(plan.initFrom!).equals(bytes(flat(model)))).toBe(true);
    // Another width is refused, naming the weight and both shapes.
    const r = runCli('src/cli/train.js', ['--init-from', dir, '--config', writeConfig({ model: { hidden: [{ units: 32, activation: 'relu' }], numClasses: 10 } })]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`error: --init-from ${dir}: the model differs: dense/kernel is [784,64] in the saved model, [784,32] in this run's\n`);
  });

  it("a task's CNN saved by stock TF.js: loaded into the task's model; a frozen layer stays what was loaded, byte for byte; another model is refused", async () => {
    await tf.setBackend('cpu');
    const { model: build } = await import(CNN) as { model: (ctx: object) => tf.LayersModel };
    const saved = build({ tf, inputShape: [28, 28], numClasses: 10 });
    saved.setWeights(saved.getWeights().map((w) => tf.randomUniform(w.shape, -0.1, 0.1, 'float32', 7)));
    const dir = join(tmpDir('init-cnn-'), 'cnn');
    await saveStock(saved, dir);
    const plan = await planOf(resolveSettings({ task: CNN, limit: 640, initFrom: dir }));
    expect(bytes(plan.initFrom!).equals(bytes(flat(saved)))).toBe(true);
    // The same CNN with its conv layer frozen: its weights move behind the trainable ones, and stay.
    const work = tmpDir('init-frozen-');
    const frozen = join(work, 'frozen.mjs');
    writeFileSync(frozen, readFileSync(CNN, 'utf8').replace("filters: 8, kernelSize: 3, activation: 'relu'", "filters: 8, kernelSize: 3, activation: 'relu', trainable: false"));
    const r = await train({ task: frozen, limit: 640, batchSize: 64, epochs: 1, initFrom: dir, evaluate: 'none' });
    const names = r.layout.params.map((p) => p.name);
    expect(names.slice(-2)).toEqual(['conv2d/kernel', 'conv2d/bias']); // non-trainable: last
    // What was loaded, by name (the plan of the unfrozen CNN holds it in its own layout order).
    const slice = (w: Float32Array, layout: typeof r.layout, name: string) => { const p = layout.params.find((q) => q.name === name)!; return w.subarray(p.offset, p.offset + p.size); };
    for (const name of ['conv2d/kernel', 'conv2d/bias']) {
      expect(bytes(slice(r.weights, r.layout, name)).equals(bytes(slice(plan.initFrom!, plan.model.layout, name)))).toBe(true);
    }
    expect(bytes(slice(r.weights, r.layout, 'dense/kernel')).equals(bytes(slice(plan.initFrom!, plan.model.layout, 'dense/kernel')))).toBe(false); // trained
    // More filters: refused, naming the weight.
    const wider = join(work, 'wider.mjs');
    writeFileSync(wider, readFileSync(CNN, 'utf8').replace('filters: 8', 'filters: 16'));
    await expect(train({ task: wider, limit: 640, initFrom: dir })).rejects.toThrow(`--init-from ${dir}: the model differs: conv2d/kernel is [3,3,1,8] in the saved model, [3,3,1,16] in this run's`);
  });

  it('is refused with --resume, and a path that is not there, in one line', () => {
    const dir = join(tmpDir('init-resume-'), 'ckpt');
    expect(runCli('src/cli/train.js', ['--limit', '640', '--epochs', '1', '--checkpoint-dir', dir]).status).toBe(0);
    const both = runCli('src/cli/train.js', ['--resume', dir, '--init-from', dir, '--epochs', '2']);
    expect(both.status).toBe(2);
    expect(both.stderr).toBe(`error: --init-from ${dir}: has no effect with --resume (a resumed run goes on from its checkpoint's weights)\n`);
    const missing = runCli('src/cli/train.js', ['--init-from', join(dir, 'nothing')]);
    expect(missing.stderr).toBe(`error: --init-from ${join(dir, 'nothing')}: not found\n`);
  });
});

function writeConfig(c: object): string {
  const path = join(tmpDir('init-config-'), 'config.json');
  writeFileSync(path, JSON.stringify(c));
  return path;
}

