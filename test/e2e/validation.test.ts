// Validation after every epoch: --validation-split holds out the last training rows
// (never in a batch), and the val_loss the workers report equals one process's loss on
// the same rows with the same weights; --validation test validates on the test set.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { train } from '../../src/index.js';
import { PROJECT_ROOT } from '../../src/files/paths.js';
import { initBackend } from '../../src/model/init-backend.js';
import { Kernels } from '../../src/model/kernels.js';
import { writeCombinedLabel } from '../../src/model/labels.js';
import { shardLossAndGradient, weightInputs } from '../../src/model/mlp.js';
import { resolveSettings } from '../../src/settings/config.js';
import { BatchOrder } from '../../src/run/schedule.js';
import { mnistData, planOf, runCli, tmpDir } from '../helpers.js';

describe('--validation-split', () => {
  it('holds out the last rows before shuffling: no training batch of any epoch holds one', async () => {
    const plan = await planOf(resolveSettings({ limit: 1000, validationSplit: 0.25, batchSize: 50, epochs: 3 }));
    expect([plan.numRows, plan.numTrain]).toEqual([1000, 750]);
    expect(plan.validation).toEqual({ split: 'train', start: 750, end: 1000 });
    expect(plan.schedule.stepsPerEpoch).toBe(15);
    const order = new BatchOrder(plan.config.seed, plan.numTrain, 50, plan.schedule);
    const batch = new Int32Array(50);
    for (let epoch = 0; epoch < 3; epoch++) {
      const seen = new Set<number>();
      for (let s = 0; s < 15; s++) {
        order.fill(epoch * 15 + s, batch);
        for (const i of batch) seen.add(i);
      }
      expect(seen.size).toBe(750); // every trained row once an epoch
      expect(Math.max(...seen)).toBe(749);
    }
  });

  it('val_loss after the last epoch equals one process\'s masked loss on the held-out rows with the trained weights', async () => {
    const r = await train({ limit: 2560, validationSplit: 0.25, epochs: 2 });
    expect(r.steps).toBe(30); // 1920 trained rows, batch 128
    const val = r.history.history.val_loss;
    expect(val).toHaveLength(2);
    // One process: rows 1920..2559, their combined labels from --mask odd, the seed's kernels.
    await initBackend('wasm');
    const { train: split } = mnistData();
    const rows = 640;
    const x = new Float32Array(rows * 784);
    const xT = new Float32Array(rows * 784);
    const label = new Float32Array(rows * 11);
    for (let r0 = 0; r0 < rows; r0++) {
      const i = 1920 + r0;
      for (let k = 0; k < 784; k++) x[r0 * 784 + k] = xT[k * rows + r0] = split.images[i * 784 + k] / 255;
      writeCombinedLabel(split.labels[i], split.labels[i] % 2, 10, label, r0 * 11);
    }
    const k = new Kernels();
    const spec = { inputSize: 784, hidden: [{ units: 64, activation: 'relu' as const }], numClasses: 10 };
    const lossSum = shardLossAndGradient(k, weightInputs(k, r.weights, r.layout), spec, r.layout, rows, { x, xT, label }, new Float32Array(r.layout.numParams));
    k.release();
    expect(Math.abs(val[1] - lossSum / rows) / (lossSum / rows)).toBeLessThan(1e-5);
    expect(val[1]).not.toBe(val[0]); // each epoch's own weights
  });

  it('every epoch_end event carries val_loss; --validation test with a split is refused', () => {
    const r = runCli('src/cli/train.js', ['--limit', '1280', '--epochs', '2', '--validation-split', '0.2', '--eval', 'none']);
    expect(r.status, r.stderr).toBe(0);
    const ends = r.events.filter((e) => e.event === 'epoch_end');
    expect(ends.map((e) => typeof e.val_loss)).toEqual(['number', 'number']);
    expect(ends.map((e) => e.steps)).toEqual([8, 8]); // 1024 trained rows
    const both = runCli('src/cli/train.js', ['--limit', '1280', '--validation-split', '0.2', '--validation', 'test']);
    expect(both.status).toBe(2);
    expect(both.stderr).toBe('error: --validation test and --validation-split 0.2: choose one validation set\n');
  });
});

describe('validationData (train()): rows given apart', () => {
  it('train() on the first 1920 rows with the next 640 as validationData is --validation-split 0.25 of 2560 rows, byte for byte', async () => {
    const m = mnistData();
    const rows = (from: number, to: number) => ({ images: m.train.images.slice(from * 784, to * 784), labels: m.train.labels.slice(from, to), shape: [to - from, 28, 28] });
    const test = { images: m.test.images.slice(0, 300 * 784), labels: m.test.labels.slice(0, 300), shape: [300, 28, 28] };
    const split = await train({ data: { train: rows(0, 2560), test }, validationSplit: 0.25, epochs: 2 });
    // With --limit: the limit cuts the training rows, not the validation data after them.
    const apart = await train({ data: { train: rows(0, 3000), test }, limit: 1920, validationData: rows(1920, 2560), epochs: 2 });
    expect(apart.steps).toBe(30);
    expect(apart.history.history.val_loss).toEqual(split.history.history.val_loss);
    expect(Buffer.from(apart.weights.buffer).equals(Buffer.from(split.weights.buffer))).toBe(true);
    expect(apart.eval!.train!.rows).toBe(1920); // the evaluation's training rows: the trained ones
  });

  it('refuses validation data of another row shape, or beside another validation set, in one line', async () => {
    const m = mnistData();
    const v = { images: m.train.images.slice(0, 100 * 784), labels: m.train.labels.slice(0, 100), shape: [100, 784] };
    await expect(train({ limit: 512, validationData: { ...v, labels: v.labels.slice(0, 50), shape: [50, 28, 56] } })).rejects.toThrow(/^validationData: 1568 values per row, the training rows have 784$/);
    await expect(train({ limit: 512, validationData: v, validationSplit: 0.1 })).rejects.toThrow(/^validationData and validationSplit 0\.1: choose one validation set$/);
    await expect(train({ limit: 512, validationData: { ...v, labels: m.train.labels.slice(0, 99) } })).rejects.toThrow(/^validationData\.labels: 99 labels for 100 rows$/);
  });
});

describe('--validation test', () => {
  it('a task\'s val_loss after the last epoch is its evaluation\'s test loss (the same rows and weights)', async () => {
    const r = await train({ task: join(PROJECT_ROOT, 'examples', 'cnn-masked.mjs'), validation: 'test', limit: 512, batchSize: 64, epochs: 2, evaluate: 'test' });
    const val = r.history.history.val_loss;
    expect(val).toHaveLength(2);
    expect(Math.abs(val[1] - r.eval!.test!.loss) / r.eval!.test!.loss).toBeLessThan(1e-6);
  });
});

describe('early stopping', () => {
  const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

  it("stops where Keras' rule says on the full run's val_loss, with the best epoch's weights restored", async () => {
    const base = { limit: 1280, validationSplit: 0.5, batchSize: 64, epochs: 8, evaluate: 'none' as const };
    const full = await train(base);
    const val = full.history.history.val_loss;
    // Keras' EarlyStopping(patience=1, min_delta=0.02) over that series.
    let [best, bestEpoch, wait, stopAt] = [Infinity, -1, 0, -1];
    for (let e = 0; e < val.length && stopAt < 0; e++) {
      if (val[e] < best - 0.02) [best, bestEpoch, wait] = [val[e], e, 0];
      else if (++wait >= 1) stopAt = e;
    }
    expect(stopAt).toBeGreaterThan(0);
    expect(stopAt).toBeLessThan(7); // not vacuous: it stops before the last epoch
    const ended: unknown[] = [];
    const early = await train({ ...base, earlyStoppingPatience: 1, minDelta: 0.02, restoreBestWeights: true, callbacks: { onTrainEnd: (logs) => ended.push(logs.steps) } });
    expect(early.stoppedBy).toBeNull();
    expect(early.history.epoch).toEqual([...Array(stopAt + 1).keys()]);
    expect(early.history.history.val_loss).toEqual(val.slice(0, stopAt + 1));
    expect(ended).toEqual([(stopAt + 1) * 10]); // onTrainEnd, as at the end of a run
    // The weights after the best epoch: a run of that many epochs ends with them.
    const bestRun = await train({ ...base, epochs: bestEpoch + 1 });
    expect(bytes(early.weights).equals(bytes(bestRun.weights))).toBe(true);
  }, 120_000);

  it('resumes where it stood: a run cut before its stopping epoch, resumed, stops there with the best weights (from the checkpoint)', async () => {
    const base = { limit: 1280, validationSplit: 0.5, batchSize: 64, epochs: 12, evaluate: 'none' as const };
    const val = (await train(base)).history.history.val_loss;
    // Keras' EarlyStopping(patience=2, min_delta=0.01) over that series: it stops at epoch s.
    let [best, bestEpoch, wait, s] = [Infinity, -1, 0, -1];
    for (let e = 0; e < val.length && s < 0; e++) {
      if (val[e] < best - 0.01) [best, bestEpoch, wait] = [val[e], e, 0];
      else if (++wait >= 2) s = e;
    }
    expect(s).toBeGreaterThan(1);
    expect(s).toBeLessThan(11);
    expect(bestEpoch).toBeLessThan(s - 1); // the cut below lands after the best epoch, mid-wait
    const settings = { ...base, earlyStoppingPatience: 2, minDelta: 0.01, restoreBestWeights: true };
    const whole = await train(settings);
    expect(whole.history.epoch).toHaveLength(s + 1);
    // The same run cut after epoch s - 1 (its last checkpoint: the end of that epoch), then resumed.
    const dir = join(tmpDir('early-resume-'), 'ckpt');
    await train({ ...settings, epochs: s, checkpointDir: dir });
    const resumed = await train({ resume: dir, epochs: 12 });
    expect(resumed.history.epoch).toEqual([s]); // one epoch: the wait carried over
    expect(resumed.history.history.val_loss).toEqual(val.slice(s, s + 1));
    expect(bytes(resumed.weights).equals(bytes(whole.weights))).toBe(true); // the best epoch's, kept in the checkpoint
  }, 120_000);

  it('refuses a monitor no epoch reports, and its settings without a patience', () => {
    const noVal = runCli('src/cli/train.js', ['--limit', '640', '--early-stopping-patience', '2']);
    expect(noVal.status).toBe(2);
    expect(noVal.stderr).toBe('error: --early-stopping-monitor val_loss: there is no validation (--validation-split, --validation test, or train()\'s validationData)\n');
    const unknown = runCli('src/cli/train.js', ['--limit', '640', '--validation-split', '0.2', '--early-stopping-patience', '2', '--early-stopping-monitor', 'val_mae']);
    expect(unknown.stderr).toBe('error: --early-stopping-monitor val_mae: every epoch reports loss, val_loss\n');
    const alone = runCli('src/cli/train.js', ['--limit', '640', '--min-delta', '0.1']);
    expect(alone.stderr).toBe('error: --min-delta 0.1: has no effect without --early-stopping-patience\n');
  });
});
