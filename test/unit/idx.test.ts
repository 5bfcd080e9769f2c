// The IDX reader on the real MNIST files and on broken files written here.
import { describe, expect, it } from 'vitest';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { IDX_FILES, loadDataset, readIdx, readSplit } from '../../src/data/idx.js';
import { mnistData, tmpDir } from '../helpers.js';

function idx(dims: number[], data: Uint8Array | number[], magic = [0, 0, 8, dims.length]): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.set(magic, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

describe('IDX reader', () => {
  it('reads the real MNIST files: 60,000 + 10,000 images of 28x28 with labels 0..9', () => {
    const d = mnistData();
    expect(d.train.count).toBe(60000);
    expect(d.test.count).toBe(10000);
    expect(d.train.inputSize).toBe(784);
    expect(d.train.images.length).toBe(60000 * 784);
    expect(Math.max(...d.train.labels)).toBe(9);
    // The first training label of MNIST is a 5, the first test label a 7.
    expect(d.train.labels[0]).toBe(5);
    expect(d.test.labels[0]).toBe(7);
  });

  it('reads a gzip-compressed file like the raw one', () => {
    const dir = tmpDir();
    const raw = idx([3, 2, 2], [...Array(12).keys()]);
    writeFileSync(join(dir, 'a.gz'), gzipSync(raw));
    const r = readIdx(join(dir, 'a'));
    expect(r.dims).toEqual([3, 2, 2]);
    expect([...r.data]).toEqual([...Array(12).keys()]);
  });

  const dir = tmpDir();
  const cases: [string, () => unknown, RegExp][] = [
    ['wrong magic', () => { writeFileSync(join(dir, 'm'), idx([2], [1, 2], [1, 2, 8, 1])); return readIdx(join(dir, 'm')); },
      /\/m: wrong magic number 0x01020801/],
    ['truncated data', () => { writeFileSync(join(dir, 't'), idx([2, 2, 2], [1, 2, 3])); return readIdx(join(dir, 't')); },
      /\/t: truncated: dims 2x2x2 need 8 data bytes, found 3/],
    ['truncated header', () => { writeFileSync(join(dir, 'h'), Buffer.from([0, 0, 8, 3, 0, 0])); return readIdx(join(dir, 'h')); },
      /\/h: truncated header \(6 bytes, need 16\)/],
    ['missing file', () => readIdx(join(dir, 'nope')), /\/nope: file not found/],
    ['image/label count mismatch', () => {
      writeFileSync(join(dir, 'ci'), idx([3, 2, 2], new Uint8Array(12)));
      writeFileSync(join(dir, 'cl'), idx([2], [0, 1]));
      return readSplit(join(dir, 'ci'), join(dir, 'cl'), 10);
    }, /\/cl: 2 labels for 3 images in .*\/ci$/],
    ['label outside the class range', () => {
      writeFileSync(join(dir, 'li'), idx([2, 2, 2], new Uint8Array(8)));
      writeFileSync(join(dir, 'll'), idx([2], [1, 10]));
      return readSplit(join(dir, 'li'), join(dir, 'll'), 10);
    }, /\/ll: label 10 at row 1 is outside the class range 0\.\.9/],
    ['missing data directory', () => loadDataset(join(dir, 'no-such-dir'), 10), /no-such-dir: data directory not found/],
  ];
  for (const [name, fn, message] of cases) {
    it(`rejects ${name} with a one-line error naming the file`, () => {
      let err: Error | undefined;
      try { fn(); } catch (e) { err = e as Error; }
      expect(err?.message).toMatch(message);
      expect(err?.message).not.toContain('\n');
    });
  }

  it('loads a whole dataset directory laid out like MNIST', () => {
    const d = tmpDir();
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, IDX_FILES.trainImages), idx([4, 3, 3], new Uint8Array(36).fill(255)));
    writeFileSync(join(d, IDX_FILES.trainLabels), idx([4], [0, 1, 2, 1]));
    writeFileSync(join(d, `${IDX_FILES.testImages}.gz`), gzipSync(idx([2, 3, 3], new Uint8Array(18))));
    writeFileSync(join(d, IDX_FILES.testLabels), idx([2], [2, 0]));
    const ds = loadDataset(d, 3);
    expect(ds.train.inputSize).toBe(9);
    expect(ds.train.count).toBe(4);
    expect([...ds.test.labels]).toEqual([2, 0]);
  });
});
