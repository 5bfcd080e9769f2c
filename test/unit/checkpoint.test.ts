// Checkpoints on real files: round trip, loadable by tf.loadLayersModel with the same
// predictions as an independent forward, retention, corruption and crash fallback.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  CheckpointError, describeLayoutDifference, listCheckpoints, readLatestCheckpoint, writeCheckpoint,
} from '../../src/checkpoint/checkpoint.js';
import { layersModelArtifacts } from '../../src/checkpoint/layers-model.js';
import type { LoadedCheckpoint, TrainingState } from '../../src/checkpoint/checkpoint.js';
import { configJson, resolveConfig } from '../../src/settings/config.js';
import type { ConfigJson } from '../../src/settings/config.js';
import { Rng } from '../../src/data/rng.js';
import { paramLayout, paramView } from '../../src/model/layout.js';
import type { ModelSpec } from '../../src/model/layout.js';
import { tmpDir } from '../helpers.js';

const SMALL: ModelSpec = { inputSize: 6, hidden: [{ units: 5, activation: 'relu' }], numClasses: 3 };
const MNIST: ModelSpec = { inputSize: 784, hidden: [{ units: 64, activation: 'relu' }], numClasses: 10 };
const TWO_HIDDEN: ModelSpec = { inputSize: 7, hidden: [{ units: 6, activation: 'tanh' }, { units: 4, activation: 'sigmoid' }], numClasses: 3 };

// The real resolved config (defaults plus flags), so the test follows Config as it grows;
// the checkpoint stores it as opaque JSON, whatever model it describes.
const CONFIG: ConfigJson = configJson(resolveConfig(['--seed', '7', '--log-file', '/tmp/x.ndjson']));

/** A state whose every number depends on `step`, so two checkpoints never look alike. */
function makeState(step: number, model: ModelSpec = SMALL): TrainingState {
  const layout = paramLayout(model);
  const rng = new Rng(1000 + step);
  const rand = (scale: number) => Float32Array.from({ length: layout.numParams }, () => (rng.next() * 2 - 1) * scale);
  return {
    step, epoch: Math.floor(step / 7), stepInEpoch: step % 7, weightsVersion: step + 1,
    rngState: (0xdeadbeef + step) >>> 0, // above 2^31: a uint32 must survive as one
    optimizer: { t: step, state: [rand(0.1), rand(0.01).map(Math.abs)] }, weights: rand(0.5), layout, model, config: CONFIG,
  };
}

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function expectSameState(got: LoadedCheckpoint, want: TrainingState): void {
  const { weights, optimizer, checkpoint, ...rest } = got;
  const { weights: w, optimizer: o, ...wantRest } = want;
  expect(checkpoint).toBe(`ckpt-${String(want.step).padStart(9, '0')}`);
  expect(rest).toStrictEqual(wantRest);
  expect(optimizer.t).toBe(o.t);
  expect(optimizer.state).toHaveLength(o.state.length);
  expect(bytes(weights).equals(bytes(w))).toBe(true);
  o.state.forEach((v, k) => expect(bytes(optimizer.state[k]).equals(bytes(v))).toBe(true));
}

/** Reads DIR, collecting every onInvalid call. */
function readWithProblems(dir: string) {
  const problems: [string, string][] = [];
  const state = readLatestCheckpoint(dir, (name, problem) => problems.push([name, problem]));
  return { state, problems };
}

const roots: string[] = [];
function freshDir(): string {
  const root = tmpDir('ckpt-test-');
  roots.push(root);
  return join(root, 'checkpoints'); // not created: writeCheckpoint must create it
}
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

describe('round trip', () => {
  it('reads back every field; Float32Arrays byte-identical', () => {
    const dir = freshDir();
    const state = makeState(3);
    const name = writeCheckpoint(dir, state, 3);
    expect(name).toBe('ckpt-000000003');
    const got = readLatestCheckpoint(dir);
    expect(got.checkpoint).toBe(name);
    expectSameState(got, state);
    expect(got.rngState).toBe(0xdeadbeef + 3);
    expect(JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')).checkpoint).toBe(name);
    expect(readdirSync(join(dir, name)).sort()).toEqual(['checksums.json', 'model.json', 'optimizer.bin', 'state.json', 'weights.bin']);
  });
});

describe('an older format', () => {
  it("a version-1 checkpoint (Adam's t under `adam`, m and v) reads as Adam's state", () => {
    const dir = freshDir();
    const state = makeState(7);
    writeCheckpoint(dir, state, 3);
    // Rewrite its state.json as version 1 wrote it, and its hashes with it.
    const ckpt = join(dir, 'ckpt-000000007');
    const json = JSON.parse(readFileSync(join(ckpt, 'state.json'), 'utf8'));
    json.formatVersion = 1;
    json.adam = { t: json.optimizer.t };
    delete json.optimizer;
    const text = `${JSON.stringify(json, null, 2)}\n`;
    writeFileSync(join(ckpt, 'state.json'), text);
    const hash = createHash('sha256').update(text).digest('hex');
    for (const f of [join(ckpt, 'checksums.json'), join(dir, 'latest.json')]) {
      const c = JSON.parse(readFileSync(f, 'utf8'));
      c.files['state.json'] = hash;
      writeFileSync(f, JSON.stringify(c));
    }
    expectSameState(readLatestCheckpoint(dir), state);
  });
});

describe('early stopping state', () => {
  const withEarly = (step: number, keep: boolean): TrainingState => {
    const s = makeState(step);
    return { ...s, earlyStopping: { monitor: 'val_loss', best: 0.1 + step / 1000, bestEpoch: 2, wait: 1, bestWeights: keep ? s.weights.map((w) => w * 0.5) : null } };
  };

  it('round trip: the figures in state.json, the best weights in best-weights.bin, byte-identical', () => {
    const dir = freshDir();
    const state = withEarly(3, true);
    writeCheckpoint(dir, state, 3);
    const got = readLatestCheckpoint(dir);
    const { bestWeights, ...figures } = got.earlyStopping!;
    expect(figures).toEqual({ monitor: 'val_loss', best: 0.1 + 3 / 1000, bestEpoch: 2, wait: 1 });
    expect(bytes(bestWeights!).equals(bytes(state.earlyStopping!.bestWeights!))).toBe(true);
    expect(readdirSync(join(dir, 'ckpt-000000003')).sort()).toEqual(['best-weights.bin', 'checksums.json', 'model.json', 'optimizer.bin', 'state.json', 'weights.bin']);
    // Without best weights (no --restore-best-weights): no file.
    writeCheckpoint(dir, withEarly(4, false), 3);
    expect(readLatestCheckpoint(dir).earlyStopping!.bestWeights).toBeNull();
    expect(readdirSync(join(dir, 'ckpt-000000004'))).not.toContain('best-weights.bin');
  });

  it('a flipped byte or a missing best-weights.bin -> the previous checkpoint', () => {
    for (const corrupt of [(f: string) => { const b = readFileSync(f); b[5] ^= 1; writeFileSync(f, b); }, (f: string) => rmSync(f)]) {
      const dir = freshDir();
      writeCheckpoint(dir, withEarly(10, true), 3);
      writeCheckpoint(dir, withEarly(20, true), 3);
      corrupt(join(dir, 'ckpt-000000020', 'best-weights.bin'));
      const { state, problems } = readWithProblems(dir);
      expect(state.step).toBe(10);
      expect(problems).toEqual([['ckpt-000000020', expect.stringMatching(/^ckpt-000000020\/best-weights\.bin: (sha256 mismatch|missing)$/)]]);
    }
  });
});

describe('TensorFlow.js Layers format', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  /** The MLP forward in float64 from the flat weights, independent of tfjs. */
  function forward(state: TrainingState, x: Float64Array, rows: number): Float64Array {
    const act = { relu: (z: number) => Math.max(0, z), tanh: Math.tanh, sigmoid: (z: number) => 1 / (1 + Math.exp(-z)), linear: (z: number) => z };
    const fns = [...state.model.hidden.map((h) => act[h.activation]), null];
    let a = x;
    let width = state.model.inputSize;
    fns.forEach((fn, l) => {
      const kernel = paramView(state.weights, state.layout.params[2 * l]);
      const bias = paramView(state.weights, state.layout.params[2 * l + 1]);
      const out = bias.length;
      const z = new Float64Array(rows * out);
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < out; j++) {
          let s = bias[j];
          for (let i = 0; i < width; i++) s += a[r * width + i] * kernel[i * out + j];
          z[r * out + j] = fn ? fn(s) : s;
        }
        if (!fn) { // softmax
          const row = z.subarray(r * out, (r + 1) * out);
          const max = Math.max(...row);
          let sum = 0;
          for (let j = 0; j < out; j++) sum += (row[j] = Math.exp(row[j] - max));
          for (let j = 0; j < out; j++) row[j] /= sum;
        }
      }
      a = z;
      width = out;
    });
    return a;
  }

  for (const [label, model] of [['MNIST 784 -> 64 relu -> 10', MNIST], ['7 -> 6 tanh -> 4 sigmoid -> 3', TWO_HIDDEN]] as const) {
    it(`${label}: tf.loadLayersModel predicts as the independent forward (1e-5)`, async () => {
      const dir = freshDir();
      const state = makeState(11, model);
      const name = writeCheckpoint(dir, state, 3);
      const artifacts = layersModelArtifacts(join(dir, name));
      expect(artifacts.weightSpecs!.map((w) => w.name)).toEqual(state.layout.params.map((p) => p.name));
      const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
      const rows = 9;
      const rng = new Rng(5);
      const x = Float64Array.from({ length: rows * model.inputSize }, () => rng.next());
      const input = tf.tensor2d(Float32Array.from(x), [rows, model.inputSize]);
      const output = loaded.predict(input) as tf.Tensor;
      expect(output.shape).toEqual([rows, model.numClasses]);
      const got = output.dataSync();
      const want = forward(state, x, rows);
      let maxDiff = 0;
      for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
      expect(maxDiff).toBeLessThan(1e-5);
      tf.dispose([input, output]);
      loaded.dispose();
    });
  }
});

describe('retention', () => {
  it('5 writes with keep=3 leave the newest 3, the pointer on the newest, no temp dirs', () => {
    const dir = freshDir();
    for (const step of [10, 20, 30, 40, 50]) writeCheckpoint(dir, makeState(step), 3);
    expect(listCheckpoints(dir)).toEqual(['ckpt-000000030', 'ckpt-000000040', 'ckpt-000000050']);
    expect(readdirSync(dir).sort()).toEqual(['ckpt-000000030', 'ckpt-000000040', 'ckpt-000000050', 'latest.json']);
    expect(JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')).checkpoint).toBe('ckpt-000000050');
    expectSameState(readLatestCheckpoint(dir), makeState(50));
  });

  it('a write at an earlier step (a resume that fell back) removes the checkpoints past it', () => {
    const dir = freshDir();
    for (const step of [10, 20, 30]) writeCheckpoint(dir, makeState(step), 3);
    writeCheckpoint(dir, makeState(25), 3);
    expect(listCheckpoints(dir)).toEqual(['ckpt-000000010', 'ckpt-000000020', 'ckpt-000000025']);
    expect(readLatestCheckpoint(dir).step).toBe(25);
  });

  it('rewriting an existing step replaces it; keep must be a positive integer', () => {
    const dir = freshDir();
    writeCheckpoint(dir, makeState(10), 2);
    const again = { ...makeState(10), weights: makeState(99).weights };
    writeCheckpoint(dir, again, 2);
    expect(readdirSync(dir).sort()).toEqual(['ckpt-000000010', 'latest.json']);
    expectSameState(readLatestCheckpoint(dir), again);
    expect(() => writeCheckpoint(dir, makeState(20), 0)).toThrow(/^keep: expected an integer >= 1, got 0$/);
  });
});

describe('corruption falls back to the previous checkpoint', () => {
  const NEWEST = 'ckpt-000000020';
  const cases: [string, (dir: string) => void, string, RegExp][] = [
    ['a flipped byte in weights.bin', (dir) => {
      const f = join(dir, NEWEST, 'weights.bin');
      const b = readFileSync(f);
      b[17] ^= 0x40;
      writeFileSync(f, b);
    }, NEWEST, /^ckpt-000000020\/weights\.bin: sha256 mismatch$/],
    ['a truncated optimizer.bin', (dir) => truncateSync(join(dir, NEWEST, 'optimizer.bin'), 100),
      NEWEST, /^ckpt-000000020\/optimizer\.bin: 100 bytes, expected \d+ for \d+ parameters$/],
    ['a deleted state.json', (dir) => rmSync(join(dir, NEWEST, 'state.json')), NEWEST, /^ckpt-000000020\/state\.json: missing$/],
    ['an edited model.json', (dir) => writeFileSync(join(dir, NEWEST, 'model.json'), '{"format":'), NEWEST, /^ckpt-000000020\/model\.json: sha256 mismatch$/],
  ];
  for (const [what, corrupt, name, problem] of cases) {
    it(`${what} -> the previous checkpoint, onInvalid once`, () => {
      const dir = freshDir();
      writeCheckpoint(dir, makeState(10), 3);
      writeCheckpoint(dir, makeState(20), 3);
      corrupt(dir);
      const { state, problems } = readWithProblems(dir);
      expectSameState(state, makeState(10));
      expect(problems).toHaveLength(1);
      expect(problems[0][0]).toBe(name);
      expect(problems[0][1]).toMatch(problem);
    });
  }

  it('a corrupt latest.json -> scans ckpt-* newest first, reports the pointer once', () => {
    const dir = freshDir();
    writeCheckpoint(dir, makeState(10), 3);
    writeCheckpoint(dir, makeState(20), 3);
    writeFileSync(join(dir, 'latest.json'), '{"checkpoint": "ckpt-0000');
    const { state, problems } = readWithProblems(dir);
    expectSameState(state, makeState(20));
    expect(problems).toEqual([['latest.json', 'latest.json: not valid JSON']]);
  });

  it('an older checkpoint is validated by its own checksums.json once the pointer moved on', () => {
    const dir = freshDir();
    for (const step of [10, 20, 30]) writeCheckpoint(dir, makeState(step), 3);
    rmSync(join(dir, 'ckpt-000000030', 'weights.bin'));
    writeFileSync(join(dir, 'ckpt-000000020', 'checksums.json'), 'garbage');
    const { state, problems } = readWithProblems(dir);
    expectSameState(state, makeState(10));
    expect(problems).toEqual([
      ['ckpt-000000030', 'ckpt-000000030/weights.bin: missing'],
      ['ckpt-000000020', 'ckpt-000000020/checksums.json: not valid JSON'],
    ]);
  });
});

describe('nothing to resume from', () => {
  it('every checkpoint invalid -> CheckpointError naming the directory', () => {
    const dir = freshDir();
    writeCheckpoint(dir, makeState(10), 3);
    rmSync(join(dir, 'ckpt-000000010', 'optimizer.bin'));
    let error: unknown;
    try {
      readLatestCheckpoint(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as CheckpointError).code).toBe('E_CHECKPOINT');
    expect((error as Error).message).toBe(`${dir}: no valid checkpoint (1 invalid; newest: ckpt-000000010/optimizer.bin: missing)`);
  });

  it('a missing or empty directory -> "no checkpoint found"', () => {
    const dir = freshDir();
    expect(() => readLatestCheckpoint(dir)).toThrow(new CheckpointError(`${dir}: no checkpoint found`));
    mkdirSync(dir);
    expect(() => readLatestCheckpoint(dir)).toThrow(`${dir}: no checkpoint found`);
    expect(listCheckpoints(dir)).toEqual([]);
  });
});

describe('crash safety', () => {
  it('a temp dir left before the rename is ignored, and the next write removes it', () => {
    const dir = freshDir();
    writeCheckpoint(dir, makeState(10), 3);
    const stale = join(dir, '.tmp-ckpt-000000020-99999');
    mkdirSync(stale);
    writeFileSync(join(stale, 'state.json'), '{"step": 2');
    writeFileSync(join(stale, 'weights.bin'), Buffer.alloc(12));
    writeFileSync(join(dir, '.tmp-latest.json-99999'), '{');
    const { state, problems } = readWithProblems(dir);
    expectSameState(state, makeState(10));
    expect(problems).toEqual([]);
    writeCheckpoint(dir, makeState(20), 3);
    expect(readdirSync(dir).sort()).toEqual(['ckpt-000000010', 'ckpt-000000020', 'latest.json']);
  });

  it('a complete directory the pointer does not name yet is not resumed from', () => {
    const dir = freshDir();
    writeCheckpoint(dir, makeState(10), 3);
    const pointer = readFileSync(join(dir, 'latest.json'));
    writeCheckpoint(dir, makeState(20), 3);
    writeFileSync(join(dir, 'latest.json'), pointer); // as if the crash came before the pointer's rename
    expectSameState(readLatestCheckpoint(dir), makeState(10));
  });

  // Replacing ckpt-20 (a rewrite after a resume): the old copy sits aside as
  // .replaced-ckpt-000000020 until the pointer has moved to the new copy.
  const OLD = makeState(20);
  const NEW = { ...makeState(20), weights: makeState(77).weights };
  const crashes: [string, boolean][] = [['between the two renames', false], ['after the new copy was renamed in', true]];
  for (const [when, newInPlace] of crashes) {
    it(`a crash ${when} resumes from the copy the pointer commits to; the next write settles it`, () => {
      const dir = freshDir();
      writeCheckpoint(dir, makeState(10), 3);
      writeCheckpoint(dir, OLD, 3);
      const other = freshDir();
      writeCheckpoint(other, NEW, 3);
      renameSync(join(dir, 'ckpt-000000020'), join(dir, '.replaced-ckpt-000000020'));
      if (newInPlace) cpSync(join(other, 'ckpt-000000020'), join(dir, 'ckpt-000000020'), { recursive: true });
      const { state, problems } = readWithProblems(dir);
      expectSameState(state, OLD);
      expect(problems).toEqual([]);
      writeCheckpoint(dir, makeState(30), 3);
      expect(readdirSync(dir).sort()).toEqual(['ckpt-000000010', 'ckpt-000000020', 'ckpt-000000030', 'latest.json']);
      rmSync(join(dir, 'ckpt-000000030'), { recursive: true });
      expectSameState(readWithProblems(dir).state, OLD);
    });
  }

  it('a crash after the pointer moved but before the old copy was removed keeps the new copy', () => {
    const dir = freshDir();
    writeCheckpoint(dir, OLD, 3);
    const aside = freshDir();
    writeCheckpoint(aside, OLD, 3);
    writeCheckpoint(dir, NEW, 3);
    cpSync(join(aside, 'ckpt-000000020'), join(dir, '.replaced-ckpt-000000020'), { recursive: true });
    expectSameState(readLatestCheckpoint(dir), NEW);
    writeCheckpoint(dir, makeState(30), 3);
    expect(existsSync(join(dir, '.replaced-ckpt-000000020'))).toBe(false);
    rmSync(join(dir, 'ckpt-000000030'), { recursive: true });
    expectSameState(readLatestCheckpoint(dir, () => {}), NEW);
  });
});

describe('describeLayoutDifference', () => {
  const mnist = paramLayout(MNIST);
  it('identical layouts -> null', () => {
    expect(describeLayoutDifference(mnist, paramLayout(MNIST))).toBeNull();
  });
  it('a different width names the parameter and both shapes', () => {
    const wider = paramLayout({ ...MNIST, hidden: [{ units: 128, activation: 'relu' }] });
    expect(describeLayoutDifference(mnist, wider)).toBe('dense/kernel has shape [784,64] in the checkpoint, [784,128] in the config');
  });
  it('a different depth counts the parameters', () => {
    const deeper = paramLayout({ ...MNIST, hidden: [...MNIST.hidden, { units: 32, activation: 'tanh' }] });
    expect(describeLayoutDifference(mnist, deeper)).toBe('the checkpoint has 4 parameters, the config 6');
  });
  it('a different input size names the first kernel; a different activation alone is no layout difference', () => {
    expect(describeLayoutDifference(mnist, paramLayout({ ...MNIST, inputSize: 100 }))).toBe(
      'dense/kernel has shape [784,64] in the checkpoint, [100,64] in the config');
    expect(describeLayoutDifference(mnist, paramLayout({ ...MNIST, hidden: [{ units: 64, activation: 'tanh' }] }))).toBeNull();
  });
});
