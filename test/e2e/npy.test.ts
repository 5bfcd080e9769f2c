// --data DIR with .npy files: MNIST rows written as train-x.npy / train-y.npy /
// test-x.npy / test-y.npy train exactly as the same rows given as typed arrays (the
// oracle: bytes and float32 pixels, int64 and uint8 labels); bad files exit 2 with one
// line naming the file.
import { describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { train } from '../../src/index.js';
import { NPY_FILES, parseNpy } from '../../src/data/npy.js';
import { mnistData, runCli, tmpDir } from '../helpers.js';
import { PROJECT_ROOT } from '../../src/files/paths.js';

/** A .npy file (format 1.0) as NumPy writes it: the header padded to 64 bytes, then the data. */
function npy(descr: string, shape: number[], data: Uint8Array | Float32Array | BigInt64Array | Int32Array, fortran = false): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

const N = 640;
const T = 200;
const m = mnistData();

function npyDir(float: boolean, labels: 'int64' | 'uint8'): string {
  const dir = tmpDir('npy-');
  const x = (images: Uint8Array, n: number) => (float ? npy('<f4', [n, 28, 28], Float32Array.from(images.subarray(0, n * 784), (v) => v / 255)) : npy('|u1', [n, 28, 28], images.slice(0, n * 784)));
  const y = (l: Uint8Array, n: number) => (labels === 'int64' ? npy('<i8', [n], BigInt64Array.from(l.subarray(0, n), (v) => BigInt(v))) : npy('|u1', [n], l.slice(0, n)));
  writeFileSync(join(dir, NPY_FILES.trainX), x(m.train.images, N));
  writeFileSync(join(dir, NPY_FILES.trainY), y(m.train.labels, N));
  writeFileSync(join(dir, NPY_FILES.testX), x(m.test.images, T));
  writeFileSync(join(dir, NPY_FILES.testY), y(m.test.labels, T));
  return dir;
}

const SETTINGS = { epochs: 1, batchSize: 64, workers: 2 } as const;

describe('.npy datasets', () => {
  let reference: Float32Array;
  it('uint8 pixels and int64 labels train exactly as the same rows given as typed arrays', async () => {
    const split = (s: typeof m.train, n: number) => ({ images: s.images.slice(0, n * 784), labels: s.labels.slice(0, n), shape: [n, 28, 28] });
    const arrays = await train({ ...SETTINGS, data: { train: split(m.train, N), test: split(m.test, T) } });
    reference = arrays.weights;
    const fromNpy = await train({ ...SETTINGS, data: npyDir(false, 'int64') });
    expect(Buffer.from(fromNpy.weights.buffer).equals(Buffer.from(reference.buffer))).toBe(true);
    expect(fromNpy.eval).toEqual(arrays.eval);
  });

  it('float32 pixels (the bytes / 255) and uint8 labels train the same, through the CLI too', async () => {
    const dir = npyDir(true, 'uint8');
    const r = await train({ ...SETTINGS, data: { dir } });
    expect(Buffer.from(r.weights.buffer).equals(Buffer.from(reference.buffer))).toBe(true);
    const cli = runCli('src/cli/train.js', ['--data', dir, '--epochs', '1', '--batch-size', '64']);
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.events.find((e) => e.event === 'run_start')).toMatchObject({ numTrain: N, numTest: T, inputSize: 784 });
  });

  it('y as combined labels [N, 11] float32: a task trains exactly as with its label() building them; the built-in fast path refuses them', async () => {
    const dir = npyDir(false, 'uint8');
    const rows = (l: Uint8Array, n: number) => {
      const y = new Float32Array(n * 11);
      for (let i = 0; i < n; i++) { y[i * 11 + l[i]] = 1; y[i * 11 + 10] = l[i] % 2; }
      return y;
    };
    const task = join(PROJECT_ROOT, 'examples', 'cnn-masked.mjs');
    const fromLabel = await train({ ...SETTINGS, task, limit: 256, data: dir });
    writeFileSync(join(dir, NPY_FILES.trainY), npy('<f4', [N, 11], rows(m.train.labels, N)));
    writeFileSync(join(dir, NPY_FILES.testY), npy('<f4', [T, 11], rows(m.test.labels, T)));
    const given = await train({ ...SETTINGS, task, limit: 256, data: dir });
    expect(Buffer.from(given.weights.buffer).equals(Buffer.from(fromLabel.weights.buffer))).toBe(true);
    expect(given.eval!.test).toEqual(fromLabel.eval!.test);
    // The API takes the same as typed arrays: labels the Float32Array of rows, with labelWidth.
    const arrays = await train({ ...SETTINGS, task, limit: 256, data: {
      train: { images: m.train.images.slice(0, N * 784), labels: rows(m.train.labels, N), shape: [N, 28, 28], labelWidth: 11 },
      test: { images: m.test.images.slice(0, T * 784), labels: rows(m.test.labels, T), shape: [T, 28, 28], labelWidth: 11 },
    } });
    expect(Buffer.from(arrays.weights.buffer).equals(Buffer.from(fromLabel.weights.buffer))).toBe(true);
    await expect(train({ task, data: { train: { images: m.train.images.slice(0, 784 * 4), labels: new Float32Array(40), shape: [4, 28, 28], labelWidth: 11 } } }))
      .rejects.toThrow('data.train.labels: with labelWidth 11, expected a Float32Array of 44 values (4 rows), got Float32Array of 40');
    const r = runCli('src/cli/main.js', ['train', '--data', dir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`error: --data ${dir}: its labels are combined rows of 11 columns; the built-in task's fast path builds its own from --mask`);
    // --mask fills only labels the trainer builds: with the data's own it would do nothing.
    const masked = runCli('src/cli/main.js', ['train', '--data', dir, '--engine', 'general', '--mask', 'even']);
    expect(masked.status, masked.stderr).toBe(2);
    expect(masked.stderr).toBe(`error: --mask even: has no effect: the labels of ${dir} are combined rows of 11 columns, used as they are\n`);
  });

  it('parses what NumPy writes: version 2 headers too', () => {
    const v1 = npy('<f4', [2, 3], Float32Array.from([1, 2, 3, 4, 5, 6]));
    const v2 = Buffer.concat([v1.subarray(0, 6), Buffer.from([2, 0]), Buffer.alloc(4), v1.subarray(10)]);
    v2.writeUInt32LE(v1.readUInt16LE(8), 8);
    for (const b of [v1, v2]) {
      const a = parseNpy(b, 'a.npy');
      expect(a).toMatchObject({ dtype: '<f4', shape: [2, 3] });
      expect(Array.from(new Float32Array(new Uint8Array(a.data).buffer))).toEqual([1, 2, 3, 4, 5, 6]);
    }
  });
});

describe('bad .npy files: exit 2, one line naming the file', () => {
  const good = () => npyDir(false, 'uint8');
  const CASES: [string, (dir: string) => void, RegExp][] = [
    ['not a .npy file', (d) => writeFileSync(join(d, NPY_FILES.trainX), Buffer.from('hello world, not numpy')), /train-x\.npy: not a \.npy file \(no \\x93NUMPY magic\)$/],
    ['truncated data', (d) => writeFileSync(join(d, NPY_FILES.trainX), npy('|u1', [N, 28, 28], new Uint8Array(N * 784 - 5))), /train-x\.npy: truncated: shape \[640,28,28\] of \|u1 needs 501760 data bytes, found 501755$/],
    ['an unsupported dtype', (d) => writeFileSync(join(d, NPY_FILES.testX), npy('<f8', [T, 784], new Float32Array(T * 784 * 2))), /test-x\.npy: unsupported dtype '<f8'/],
    ['Fortran order', (d) => writeFileSync(join(d, NPY_FILES.trainX), npy('|u1', [N, 784], new Uint8Array(N * 784), true)), /train-x\.npy: Fortran order is not supported/],
    ['labels of another count', (d) => writeFileSync(join(d, NPY_FILES.trainY), npy('|u1', [N - 1], new Uint8Array(N - 1))), /train-y\.npy: 639 labels for 640 rows in .*train-x\.npy$/],
    ['float labels', (d) => writeFileSync(join(d, NPY_FILES.trainY), npy('<f4', [N], new Float32Array(N))), /train-y\.npy: dtype '<f4': class labels must be integers/],
    ['a 2-D label that is not float32', (d) => writeFileSync(join(d, NPY_FILES.trainY), npy('|u1', [N, 11], new Uint8Array(N * 11))), /train-y\.npy: dtype '\|u1': a combined label \[N, width\] must be float32/],
    ['a 3-D label', (d) => writeFileSync(join(d, NPY_FILES.trainY), npy('<f4', [N, 11, 1], new Float32Array(N * 11))), /train-y\.npy: shape \[640,11,1\]: expected \[N\] integer classes or \[N, width\] float32 combined labels/],
    ['a label outside the classes', (d) => writeFileSync(join(d, NPY_FILES.testY), npy('<i4', [T], Int32Array.from({ length: T }, (_, i) => (i === 7 ? 10 : 1)))), /test-y\.npy: label 10 at row 7 is outside the class range 0\.\.9$/],
    ['a version-2 file cut after its magic', (d) => writeFileSync(join(d, NPY_FILES.trainX), Buffer.from('\x93NUMPY\x02\x00\x10\x00', 'latin1')), /train-x\.npy: truncated header \(10 bytes\)$/],
    ['images of shape [N, 0]', (d) => writeFileSync(join(d, NPY_FILES.trainX), npy('|u1', [N, 0], new Uint8Array(0))), /train-x\.npy: shape \[640,0\]: expected \[N, \.\.\.\] of sizes >= 1$/],
    ['an int64 label beyond 2^53, reported exactly', (d) => writeFileSync(join(d, NPY_FILES.trainY), npy('<i8', [N], BigInt64Array.from({ length: N }, (_, i) => (i === 3 ? 9007199254740993n : 1n)))), /train-y\.npy: label 9007199254740993 at row 3 is outside the class range 0\.\.9$/],
    ['a header that is no dict, with a newline in it', (d) => writeFileSync(join(d, NPY_FILES.trainX), Buffer.concat([Buffer.from('\x93NUMPY\x01\x00\x0c\x00', 'latin1'), Buffer.from('not\na dict \n')])), /train-x\.npy: header is not a \.npy header dict \("not\\na dict"\)$/],
    ['test images of another dtype', (d) => writeFileSync(join(d, NPY_FILES.testX), npy('<f4', [T, 28, 28], new Float32Array(T * 784))), /test-x\.npy: float32, train-x\.npy is uint8; save both with the same dtype$/],
  ];
  for (const [name, breakIt, message] of CASES) {
    it(name, () => {
      const dir = good();
      breakIt(dir);
      const log = join(tmpDir(), 'run.ndjson');
      const r = runCli('src/cli/train.js', ['--data', dir, '--log-file', log]);
      expect(r.status).toBe(2);
      expect(r.stderr.trim()).toMatch(new RegExp(`^error: .*\/${message.source}`));
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(existsSync(log)).toBe(false);
    });
  }
});
