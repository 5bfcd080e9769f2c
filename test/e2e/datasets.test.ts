// --data: any IDX dataset laid out like MNIST, raw or gzip-compressed; image size and
// classes come from the files and the config, nothing is hard-wired to 28x28 or 10.
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { IDX_FILES } from '../../src/data/idx.js';
import { Rng } from '../../src/data/rng.js';
import { listCheckpoints } from '../../src/checkpoint/checkpoint.js';
import { mnistData, runCli, tmpDir } from '../helpers.js';

function idx(dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.set([0, 0, 8, dims.length], 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

describe('--data', () => {
  it('trains on a gzip-compressed copy of 640 MNIST rows written here', () => {
    const m = mnistData();
    const dir = tmpDir();
    const n = 640;
    const t = 200;
    writeFileSync(join(dir, `${IDX_FILES.trainImages}.gz`), gzipSync(idx([n, 28, 28], m.train.images.subarray(0, n * 784))));
    writeFileSync(join(dir, `${IDX_FILES.trainLabels}.gz`), gzipSync(idx([n], m.train.labels.subarray(0, n))));
    writeFileSync(join(dir, `${IDX_FILES.testImages}.gz`), gzipSync(idx([t, 28, 28], m.test.images.subarray(0, t * 784))));
    writeFileSync(join(dir, `${IDX_FILES.testLabels}.gz`), gzipSync(idx([t], m.test.labels.subarray(0, t))));
    const ckpt = join(dir, 'ckpt');
    const r = runCli('src/cli/train.js', ['--data', dir, '--epochs', '2', '--batch-size', '64', '--checkpoint-dir', ckpt]);
    expect(r.status, r.stderr).toBe(0);
    const start = r.events.find((e) => e.event === 'run_start')!;
    expect(start).toMatchObject({ numTrain: n, numTest: t, inputSize: 784 });
    const ev = r.events.find((e) => e.event === 'eval') as { train: { rows: number }; test: { rows: number } };
    expect(ev.train.rows).toBe(n);
    expect(ev.test.rows).toBe(t);
    // The decompressed rows are the rows: the weights equal a run on the same 640 rows
    // of the uncompressed built-in MNIST, byte for byte (the test set trains nothing).
    const plain = join(tmpDir(), 'ckpt');
    expect(runCli('src/cli/train.js', ['--limit', String(n), '--epochs', '2', '--batch-size', '64', '--checkpoint-dir', plain]).status).toBe(0);
    const weights = (d: string) => readFileSync(join(d, listCheckpoints(d).at(-1)!, 'weights.bin'));
    expect(weights(ckpt).equals(weights(plain))).toBe(true);
  });

  it('a 10x10-pixel, 3-class dataset built here trains end to end and is learned', () => {
    // Class k lights up row band k (rows 3k..3k+2) plus noise: separable, but only if
    // the model really reads 100 pixels and predicts 3 classes.
    const rng = new Rng(9);
    const make = (count: number) => {
      const images = new Uint8Array(count * 100);
      const labels = new Uint8Array(count);
      for (let i = 0; i < count; i++) {
        const k = i % 3;
        labels[i] = k;
        for (let p = 0; p < 100; p++) {
          const row = Math.floor(p / 10);
          images[i * 100 + p] = Math.min(255, (row >= 3 * k && row < 3 * k + 3 ? 150 : 0) + Math.floor(rng.next() * 100));
        }
      }
      return { images, labels };
    };
    const train = make(600);
    const test = make(150);
    const dir = tmpDir();
    writeFileSync(join(dir, IDX_FILES.trainImages), idx([600, 10, 10], train.images));
    writeFileSync(join(dir, IDX_FILES.trainLabels), idx([600], train.labels));
    writeFileSync(join(dir, IDX_FILES.testImages), idx([150, 10, 10], test.images));
    writeFileSync(join(dir, IDX_FILES.testLabels), idx([150], test.labels));
    const config = join(dir, 'tiny.jsonc');
    writeFileSync(config, '{ "mask": "all", "batchSize": 30, "epochs": 6, "lr": 0.01, "model": { "hidden": [{ "units": 16, "activation": "tanh" }], "numClasses": 3 } }');
    const r = runCli('src/cli/train.js', ['--config', config, '--data', dir, '--workers', '3']);
    expect(r.status, r.stderr).toBe(0);
    const start = r.events.find((e) => e.event === 'run_start') as { inputSize: number; numParams: number; layout: { name: string; shape: number[] }[] };
    expect(start.inputSize).toBe(100);
    expect(start.numParams).toBe(100 * 16 + 16 + 16 * 3 + 3);
    expect(start.layout.map((p) => p.shape)).toEqual([[100, 16], [16], [16, 3], [3]]);
    const ev = r.events.find((e) => e.event === 'eval') as { test: { accuracy: number; perClassAccuracy: number[]; trueCounts: number[] } };
    expect(ev.test.trueCounts).toEqual([50, 50, 50]);
    expect(ev.test.accuracy).toBeGreaterThan(0.95);
  });
});
