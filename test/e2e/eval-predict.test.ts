// `npm run eval` and `npm run predict` on a checkpoint from a real short training run:
// eval's report equals the trainer's own final report; predict's classes equal an
// independent float64 forward pass over weights.bin; bad input exits 2 writing nothing.
import { beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { builtinMnistDir, IDX_FILES, readIdx } from '../../src/data/idx.js';
import type { ModelSpec, ParamLayout } from '../../src/model/layout.js';
import { runCli, tmpDir } from '../helpers.js';
import type { CliRun } from '../helpers.js';

const CKPT = 'ckpt-000000050'; // 6400 rows / batch 128 = 50 steps, checkpointed at the end
let root: string;
let trainerEval: Record<string, unknown>;

beforeAll(() => {
  root = join(tmpDir('eval-predict-'), 'ckpt');
  const r = runCli('src/cli/train.js', ['--epochs', '1', '--limit', '6400', '--checkpoint-dir', root]);
  expect(r.status, r.stderr).toBe(0);
  trainerEval = r.events.find((e) => e.event === 'eval')!;
  expect(readdirSync(root).sort()).toEqual([CKPT, 'latest.json']);
}, 120_000);

function idx(dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.set([0, 0, 8, dims.length], 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

const evalEvent = (r: CliRun) => {
  expect(r.status, r.stderr).toBe(0);
  expect(r.events.length).toBe(1);
  return r.events[0];
};

describe('eval', () => {
  it('--split both: the reports equal the trainer\'s final eval event, whole objects', () => {
    const e = evalEvent(runCli('src/cli/eval.js', ['--checkpoint', root, '--split', 'both']));
    expect(e).toMatchObject({ event: 'eval', checkpoint: CKPT, dir: root, step: 50, mask: 'odd' });
    expect(e.ms).toBeGreaterThan(0);
    // Not the same floats: the Layers Dense runs fused matMul+bias+relu and a softmax, the
    // trainer's workers plain matMul, add, relu and argmax of the logits; probabilities
    // differ by up to 7e-7. But the smallest top-2 logit gap of this (seeded, so always
    // identical) checkpoint is 2.2e-4 on these 16,400 rows: no argmax can flip, and the
    // reports are compared exactly, with no near-tie allowance.
    expect(e.test).toEqual(trainerEval.test);
    expect(e.train).toEqual(trainerEval.train);
    expect((e.train as { rows: number }).rows).toBe(6400); // the checkpoint's --limit
  });

  it('one ckpt-* directory, default split test: only `test`; tables on stderr; --log-file has the same line', () => {
    const logFile = join(tmpDir(), 'logs', 'eval.ndjson');
    const r = runCli('src/cli/eval.js', ['--checkpoint', join(root, CKPT), '--log-file', logFile, '--batch-size', '777']);
    const e = evalEvent(r);
    expect(e.test).toEqual(trainerEval.test);
    expect(e).not.toHaveProperty('train');
    expect(JSON.parse(readFileSync(logFile, 'utf8'))).toEqual(e);
    expect(r.stderr).toMatch(/^== test set: 10000 rows, accuracy 0\.\d{4} \(condition=1: 0\.\d{4} on 5074; condition=0: 0\.\d{4} on 4926\)$/m);
    expect(r.stderr).toMatch(/^odd-labelled rows: accuracy/m);
    expect(r.stderr).toMatch(/^even-labelled rows: accuracy/m);
    expect(r.stderr).toMatch(/^\s*pred count(\s+\d+){10}$/m);
    expect(r.stderr).not.toMatch(/training set/);
  });

  it('--mask even recomputes the conditions, not the predictions', () => {
    const e = evalEvent(runCli('src/cli/eval.js', ['--checkpoint', root, '--mask', 'even']));
    const [mine, trainers] = [e.test, trainerEval.test] as { condition1: unknown; condition0: unknown; predCounts: unknown }[];
    expect(e.mask).toBe('even');
    expect(mine.predCounts).toEqual(trainers.predCounts);
    expect(mine.condition1).toEqual(trainers.condition0);
    expect(mine.condition0).toEqual(trainers.condition1);
  });

  it('skips an invalid newer checkpoint with a warning and evaluates the previous one', () => {
    const copy = join(tmpDir(), 'ckpt');
    cpSync(root, copy, { recursive: true });
    cpSync(join(copy, CKPT), join(copy, 'ckpt-000000060'), { recursive: true }); // its state.json says step 50
    rmSync(join(copy, 'latest.json'));
    const r = runCli('src/cli/eval.js', ['--checkpoint', copy]);
    expect(evalEvent(r)).toMatchObject({ checkpoint: CKPT, step: 50 });
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning: '));
    expect(warnings).toEqual([
      'warning: skipping invalid checkpoint: latest.json: missing',
      'warning: skipping invalid checkpoint: ckpt-000000060/state.json: step 50 does not match the directory name',
    ]);
  });
});

describe('eval of a run that train() gave arrays', () => {
  it('asks for --data (its config names no directory, and MNIST would be a guess), and evaluates on the one named', async () => {
    const { train } = await import('../../src/index.js');
    const { mnistData } = await import('../helpers.js');
    const m = mnistData();
    const split = (s: typeof m.train, n: number) => ({ images: s.images.slice(0, n * 784), labels: s.labels.slice(0, n), shape: [n, 28, 28] });
    const dir = join(tmpDir('eval-arrays-'), 'ckpt');
    const r = await train({ data: { train: split(m.train, 640), test: split(m.test, 100) }, epochs: 1, checkpointDir: dir, evaluate: 'none' });
    expect(r.steps).toBe(5);
    const without = runCli('src/cli/eval.js', ['--checkpoint', dir]);
    expect(without.status).toBe(2);
    expect(without.stderr).toBe('error: --data: ckpt-000000005 was trained on arrays given to train(), not on a directory: name the data to evaluate it on\n');
    expect(without.stdout).toBe('');
    const named = evalEvent(runCli('src/cli/eval.js', ['--checkpoint', dir, '--data', builtinMnistDir()]));
    expect((named.test as { rows: number }).rows).toBe(10_000);
  });
});

describe('predict', () => {
  const N = 50;
  let imagesFile: string;
  let pixels: Uint8Array;
  beforeAll(() => {
    pixels = readIdx(join(builtinMnistDir(), IDX_FILES.testImages)).data.slice(0, N * 784);
    imagesFile = join(tmpDir(), 'first-50.idx3-ubyte.gz');
    writeFileSync(imagesFile, gzipSync(idx([N, 28, 28], pixels)));
  });

  /** The oracle: float64 forward from state.json's layout over weights.bin; relu hidden, softmax out. */
  function independentForward(ckptDir: string): number[][] {
    const state = JSON.parse(readFileSync(join(ckptDir, 'state.json'), 'utf8')) as { model: ModelSpec; layout: ParamLayout };
    const bin = readFileSync(join(ckptDir, 'weights.bin'));
    const w = new Float32Array(new Uint8Array(bin).buffer);
    expect(w.length).toBe(state.layout.numParams);
    const param = (name: string) => {
      const p = state.layout.params.find((q) => q.name === name)!;
      return { v: w.subarray(p.offset, p.offset + p.size), shape: p.shape };
    };
    expect(state.model.hidden).toEqual([{ units: 64, activation: 'relu' }]);
    const layers = [['dense', true], ['dense_1', false]] as const;
    const out: number[][] = [];
    for (let r = 0; r < N; r++) {
      let a = Array.from(pixels.subarray(r * 784, (r + 1) * 784), (b) => b / 255);
      for (const [name, relu] of layers) {
        const k = param(`${name}/kernel`);
        const b = param(`${name}/bias`);
        const [n, m] = k.shape;
        const z = Array.from({ length: m }, (_, j) => {
          let s = b.v[j];
          for (let i = 0; i < n; i++) s += a[i] * k.v[i * m + j];
          return relu ? Math.max(0, s) : s;
        });
        a = z;
      }
      const max = Math.max(...a);
      const e = a.map((z) => Math.exp(z - max));
      const sum = e.reduce((x, y) => x + y, 0);
      out.push(e.map((x) => x / sum));
    }
    return out;
  }

  const argmax = (p: number[]) => p.reduce((best, x, k) => (x > p[best] ? k : best), 0);

  it('50 lines; probabilities sum to 1 and match an independent forward; classes are its argmax', () => {
    const r = runCli('src/cli/predict.js', ['--checkpoint', root, '--images', imagesFile]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { index: number; class: number; probabilities: number[] });
    expect(lines.length).toBe(N);
    const want = independentForward(join(root, CKPT));
    let maxDiff = 0;
    lines.forEach((line, i) => {
      expect(Object.keys(line)).toEqual(['index', 'class', 'probabilities']);
      expect(line.index).toBe(i);
      expect(line.probabilities.length).toBe(10);
      expect(Math.abs(line.probabilities.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
      for (let k = 0; k < 10; k++) maxDiff = Math.max(maxDiff, Math.abs(line.probabilities[k] - want[i][k]));
      expect(line.class, `image ${i}`).toBe(argmax(want[i]));
    });
    expect(maxDiff).toBeLessThan(1e-5);
  });

  it('--out writes the same lines to a file, leaving no temp file; a ckpt-* directory works too', () => {
    const dir = tmpDir();
    const out = join(dir, 'sub', 'pred.ndjson');
    const r = runCli('src/cli/predict.js', ['--checkpoint', join(root, CKPT), '--images', imagesFile, '--out', out, '--batch-size', '7']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    const stdoutRun = runCli('src/cli/predict.js', ['--checkpoint', root, '--images', imagesFile]);
    expect(readFileSync(out, 'utf8')).toBe(stdoutRun.stdout);
    expect(readdirSync(join(dir, 'sub'))).toEqual(['pred.ndjson']);
  });
});

describe('bad input: exit 2, one line on stderr, nothing written', () => {
  const images = () => {
    const f = join(tmpDir(), 'mnist-3.idx');
    writeFileSync(f, idx([3, 28, 28], new Uint8Array(3 * 784)));
    return f;
  };
  const small = () => {
    const f = join(tmpDir(), 'ten-by-ten.idx');
    writeFileSync(f, idx([3, 10, 10], new Uint8Array(300)));
    return f;
  };
  const corruptCkpt = () => {
    const copy = join(tmpDir(), 'ckpt');
    cpSync(root, copy, { recursive: true });
    truncateSync(join(copy, CKPT, 'weights.bin'), 100);
    return join(copy, CKPT);
  };
  const empty = tmpDir('no-ckpt-');
  const quoted = empty.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  const cases: [string, string, () => string[], RegExp][] = [
    ['predict: no checkpoint', 'predict', () => ['--checkpoint', empty, '--images', images()], new RegExp(`^error: ${quoted}: no checkpoint found$`)],
    ['eval: no checkpoint', 'eval', () => ['--checkpoint', empty], new RegExp(`^error: ${quoted}: no checkpoint found$`)],
    ['predict: a corrupt ckpt-* directory', 'predict', () => ['--checkpoint', corruptCkpt(), '--images', images()],
      /^error: \S+\/ckpt-000000050: not a valid checkpoint \(ckpt-000000050\/weights\.bin: 100 bytes, expected 203560 for 50890 parameters\)$/],
    ['predict: 10x10 images', 'predict', () => ['--checkpoint', root, '--images', small()],
      /^error: \S+ten-by-ten\.idx: images are 10x10 \(100 pixels\), the model of ckpt-000000050 expects 784 pixels$/],
    ['predict: missing --images', 'predict', () => ['--checkpoint', root], /^error: --images: required \(an IDX image file or a \.npy file; see --help\)$/],
    ['predict: images file not found', 'predict', () => ['--checkpoint', root, '--images', '/no/such.idx'],
      /^error: \/no\/such\.idx: file not found \(nor \/no\/such\.idx\.gz\)$/],
    ['predict: corrupt images', 'predict', () => {
      const f = join(tmpDir(), 'bad.idx');
      writeFileSync(f, idx([3, 28, 28], new Uint8Array(100)));
      return ['--checkpoint', root, '--images', f];
    }, /^error: \S+bad\.idx: truncated: dims 3x28x28 need 2352 data bytes, found 100$/],
    ['predict: unknown flag', 'predict', () => ['--checkpoint', root, '--images', images(), '--frobnicate', '1'], /^error: --frobnicate: unknown flag \(see --help\)$/],
    ['predict: --batch-size 0', 'predict', () => ['--checkpoint', root, '--images', images(), '--batch-size', '0'], /^error: --batch-size: expected an integer from 1, got "0"$/],
    ['eval: missing --checkpoint', 'eval', () => [], /^error: --checkpoint: required \(a checkpoint root or a ckpt-\* directory; see --help\)$/],
    ['eval: unknown flag', 'eval', () => ['--checkpoint', root, '--epochs', '3'], /^error: --epochs: unknown flag \(see --help\)$/],
    ['eval: bad --split', 'eval', () => ['--checkpoint', root, '--split', 'valid'], /^error: --split: expected one of test, train, both, got "valid"$/],
    ['eval: bad --mask', 'eval', () => ['--checkpoint', root, '--mask', 'prime'], /^error: --mask: expected odd, even, all or classes=1,3,7, got "prime"$/],
    ['eval: missing data', 'eval', () => ['--checkpoint', root, '--data', '/no/such/dir'], /^error: \/no\/such\/dir: data directory not found$/],
    ['eval: flag without value', 'eval', () => ['--checkpoint'], /^error: --checkpoint: needs a value$/],
  ];

  for (const [name, cmd, args, message] of cases) {
    it(name, () => {
      const out = join(tmpDir(), 'out', 'x.ndjson');
      const logFile = join(tmpDir(), 'logs', 'eval.ndjson');
      const extra = cmd === 'predict' ? ['--out', out] : ['--log-file', logFile];
      const a = args();
      // Appended after the case's args, unless they end on a flag still waiting for its value.
      const argv = a.at(-1) === '--checkpoint' ? [...extra, ...a] : [...a, ...extra];
      const r = runCli(`src/cli/${cmd}.js`, argv);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines.length, r.stderr).toBe(1);
      expect(lines[0]).toMatch(message);
      expect(existsSync(out)).toBe(false);
      expect(existsSync(join(out, '..'))).toBe(false);
      expect(existsSync(logFile)).toBe(false);
    });
  }

  it('--help prints the usage and exits 0', () => {
    for (const cmd of ['eval', 'predict']) {
      const r = runCli(`src/cli/${cmd}.js`, ['--help']);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: tfjs-parallel-trainer ${cmd} --checkpoint DIR`));
      expect(r.stdout).toMatch(/--batch-size N/);
    }
  });
});
