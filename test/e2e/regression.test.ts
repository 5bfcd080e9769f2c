// A regression task end to end, as a user runs it from the CLI: examples/landmark.mjs on
// the data examples/landmark-data.mjs writes (a label that depends on the image: is
// there a digit, and where is its centre). It trains with validation every epoch, is
// evaluated at the end, and its checkpoint goes through `eval` (the trainer's figures,
// exactly) and `predict` (its raw outputs, against stock TF.js loading the checkpoint;
// the loss recomputed from them in float64 against the evaluation's).
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readLatestCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { layersModelArtifacts } from '../../src/checkpoint/layers-model.js';
import { readNpy } from '../../src/data/npy.js';
import { PROJECT_ROOT } from '../../src/files/paths.js';
import { runCli, tmpDir } from '../helpers.js';

const TASK = join(PROJECT_ROOT, 'examples', 'landmark.mjs');
const [N, T] = [1500, 400];
let dir: string;
let trained: ReturnType<typeof runCli>;
type LossReport = { rows: number; loss: number; metrics: Record<string, number> };
let trainerEval: { train: LossReport; test: LossReport };

beforeAll(() => {
  dir = tmpDir('regression-');
  const made = spawnSync(process.execPath, [join(PROJECT_ROOT, 'examples', 'landmark-data.mjs'), join(dir, 'data'), '--train', String(N), '--test', String(T)], { encoding: 'utf8' });
  expect(made.status, made.stderr).toBe(0);
  trained = runCli('src/cli/main.js', ['train', '--task', TASK, '--data', join(dir, 'data'), '--validation-split', '0.2', '--epochs', '3', '--batch-size', '50', '--checkpoint-dir', join(dir, 'ckpt')]);
  expect(trained.status, trained.stderr).toBe(0);
  trainerEval = trained.events.find((e) => e.event === 'eval') as unknown as typeof trainerEval;
}, 300_000);

describe('a regression task (examples/landmark.mjs): no class columns', () => {
  it('validates every epoch, and the evaluation reports its mean loss and metrics, no class report', () => {
    const ends = trained.events.filter((e) => e.event === 'epoch_end');
    expect(ends).toHaveLength(3);
    for (const e of ends) expect(Object.keys(e).filter((k) => k.startsWith('val_')).sort()).toEqual(['val_centreErrorPx', 'val_loss', 'val_presentAccuracy']);
    expect(trainerEval.train.rows).toBe(1200); // the trained rows: not the validation split
    expect(trainerEval.test.rows).toBe(T);
    expect(Object.keys(trainerEval.test).sort()).toEqual(['loss', 'metrics', 'rows']);
    expect(trainerEval.test.metrics.presentAccuracy).toBeGreaterThan(0.75); // better than "always a digit"
    // The report it meant to print, and nothing else.
    expect(trained.stderr.trim().split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(/^== training set: 1200 rows, mean loss \d\.\d{4}, presentAccuracy \d\.\d{4}, centreErrorPx \d+\.\d{4}$/),
      expect.stringMatching(/^== test set: 400 rows, mean loss /),
    ]);
  });

  it('`eval` of its checkpoint reports exactly what the trainer reported at its end', () => {
    const r = runCli('src/cli/main.js', ['eval', '--checkpoint', join(dir, 'ckpt'), '--split', 'both']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.events).toHaveLength(1);
    const [e] = r.events;
    expect(e).toMatchObject({ event: 'eval', dir: join(dir, 'ckpt'), step: 72, task: expect.stringContaining('landmark.mjs') });
    expect(e.train).toEqual(trainerEval.train);
    expect(e.test).toEqual(trainerEval.test);
    expect(r.stderr).toMatch(/^== test set: 400 rows, mean loss \d\.\d{4}, presentAccuracy/m);
    // --eval-limit: the first rows only.
    const limited = runCli('src/cli/main.js', ['eval', '--checkpoint', join(dir, 'ckpt'), '--eval-limit', '100']);
    expect(limited.status, limited.stderr).toBe(0);
    expect((limited.events[0].test as LossReport).rows).toBe(100);
  });

  it('`predict` writes the raw outputs, as stock TF.js computes them; their loss is the evaluation\'s', async () => {
    const p = runCli('src/cli/main.js', ['predict', '--checkpoint', join(dir, 'ckpt'), '--images', join(dir, 'data', 'test-x.npy')]);
    expect(p.status, p.stderr).toBe(0);
    const lines = p.stdout.trim().split('\n').map((l) => JSON.parse(l) as { index: number; outputs: number[] });
    expect(lines).toHaveLength(T);
    expect(lines[7]).toEqual({ index: 7, outputs: [expect.any(Number), expect.any(Number), expect.any(Number)] });
    // Stock TF.js (cpu backend) loads the checkpoint's files and predicts the same rows.
    await tf.setBackend('cpu');
    const ckpt = readLatestCheckpoint(join(dir, 'ckpt'));
    const model = await tf.loadLayersModel(tf.io.fromMemory(layersModelArtifacts(join(dir, 'ckpt', ckpt.checkpoint))));
    const x = readNpy(join(dir, 'data', 'test-x.npy'));
    const expected = tf.tidy(() => (model.predict(tf.tensor(Float32Array.from(x.data, (v) => v / 255), [T, 28, 28])) as tf.Tensor).arraySync() as number[][]);
    let worst = 0;
    lines.forEach((l, i) => l.outputs.forEach((v, k) => { worst = Math.max(worst, Math.abs(v - expected[i][k]) / Math.max(1, Math.abs(expected[i][k]))); }));
    expect(worst).toBeLessThan(1e-5);
    // The landmark loss, written again here in float64 from its definition, over the
    // predicted outputs and the file's labels: the evaluation's mean test loss.
    const y = new Float32Array(new Uint8Array(readNpy(join(dir, 'data', 'test-y.npy')).data).buffer);
    let sum = 0;
    lines.forEach(({ outputs: [z, cx, cy] }, i) => {
      const [present, tx, ty] = y.subarray(i * 3, i * 3 + 3);
      sum += Math.max(z, 0) - z * present + Math.log1p(Math.exp(-Math.abs(z))) + present * ((tx - cx) ** 2 + (ty - cy) ** 2);
    });
    expect(Math.abs(sum / T - trainerEval.test.loss) / trainerEval.test.loss).toBeLessThan(1e-4);
  });

  it('`eval` refuses a setting with no effect, in one line', () => {
    const r = runCli('src/cli/main.js', ['eval', '--checkpoint', join(dir, 'ckpt'), '--mask', 'even']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/^error: --mask even: has no effect: the labels of .* are combined rows of 3 columns, used as they are$/);
    expect(r.stdout).toBe('');
  });
});

// Keep the data file's labels honest: a row's label is its centre of ink, or [0, 0, 0].
describe('examples/landmark-data.mjs', () => {
  it('labels each kept image with the centre of its ink, in [0, 1]', () => {
    const x = readNpy(join(dir, 'data', 'train-x.npy'));
    const y = new Float32Array(new Uint8Array(readNpy(join(dir, 'data', 'train-y.npy')).data).buffer);
    let present = 0;
    for (let i = 0; i < 50; i++) {
      const img = x.data.subarray(i * 784, (i + 1) * 784);
      const [p, cx, cy] = y.subarray(i * 3, i * 3 + 3);
      if (p === 0) {
        expect([cx, cy]).toEqual([0, 0]);
        continue;
      }
      present++;
      let [ink, sx, sy] = [0, 0, 0];
      img.forEach((v, k) => { ink += v; sx += v * (k % 28); sy += v * Math.floor(k / 28); });
      expect(cx).toBeCloseTo(sx / ink / 27, 6);
      expect(cy).toBeCloseTo(sy / ink / 27, 6);
    }
    expect(present).toBeGreaterThan(25);
    expect(present).toBeLessThan(50);
  });
});
