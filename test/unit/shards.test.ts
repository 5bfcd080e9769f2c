// Shard splitting, and the fast path's row gathering.
import { describe, expect, it } from 'vitest';
import { splitShards } from '../../src/engine/shards.js';
import { writeCombinedLabel } from '../../src/model/labels.js';
import { gatherRows } from '../../src/paths/fast/gather.js';

/** Every row's combined label [one-hot | condition], as the built-in task's label rows hold them. */
function labelRows(labels: Uint8Array, cond: Uint8Array, numClasses: number): Float32Array {
  const out = new Float32Array(labels.length * (numClasses + 1));
  labels.forEach((l, i) => writeCombinedLabel(l, cond[i], numClasses, out, i * (numClasses + 1)));
  return out;
}

describe('splitShards', () => {
  for (const [batch, n] of [[128, 1], [128, 2], [130, 4], [7, 3], [5, 5], [129, 8]]) {
    it(`cuts ${batch} rows into ${n} contiguous shards differing by at most one`, () => {
      const shards = splitShards(batch, n);
      expect(shards).toHaveLength(n);
      expect(shards[0][0]).toBe(0);
      expect(shards.at(-1)![1]).toBe(batch);
      for (let i = 1; i < n; i++) expect(shards[i][0]).toBe(shards[i - 1][1]);
      const sizes = shards.map(([a, b]) => b - a);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    });
  }
});

describe('gatherRows', () => {
  it('scales pixels to [0, 1], transposes, and builds combined labels of the chosen rows', () => {
    const images = Uint8Array.from([0, 255, 51, 102, 255, 0]); // 3 rows of 2 pixels
    const labels = Uint8Array.from([1, 0, 2]);
    const cond = Uint8Array.from([1, 0, 0]);
    const out = { x: new Float32Array(4), xT: new Float32Array(4), label: new Float32Array(8) };
    const n = gatherRows(images, labelRows(labels, cond, 3), Int32Array.from([9, 0, 2]), 1, 3, 2, 4, out);
    expect(n).toBe(1);
    const close = (a: Float32Array, b: number[]) => b.forEach((v, i) => expect(a[i]).toBeCloseTo(v, 6));
    close(out.x, [0, 1, 1, 0]); // rows 0 and 2 of the dataset
    close(out.xT, [0, 1, 1, 0].map((_, i) => [0, 1, 1, 0][(i % 2) * 2 + Math.floor(i / 2)]));
    const images2 = Uint8Array.from([51, 102, 255, 0]);
    gatherRows(images2, labelRows(labels, cond, 3), Int32Array.from([0, 1]), 0, 2, 2, 4, out);
    close(out.x, [0.2, 0.4, 1, 0]);
    close(out.xT, [0.2, 1, 0.4, 0]);
    expect([...out.label]).toEqual([0, 1, 0, 1, 1, 0, 0, 0]);
  });
});

describe('gatherRows, four rows at a time', () => {
  it.each([1, 4, 11, 64])('%i rows of real-sized images: x, xT and labels equal a plain /255 gather bit for bit', (rows) => {
    const inputSize = 784;
    const numRows = 50;
    let seed = rows;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
    const images = Uint8Array.from({ length: numRows * inputSize }, next);
    const labels = Uint8Array.from({ length: numRows }, (_, i) => i % 10);
    const cond = Uint8Array.from({ length: numRows }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0);
    const indices = Int32Array.from({ length: rows + 3 }, () => next() % numRows);
    const out = { x: new Float32Array(rows * inputSize), xT: new Float32Array(rows * inputSize), label: new Float32Array(rows * 11) };
    const n = gatherRows(images, labelRows(labels, cond, 10), indices, 3, rows + 3, inputSize, 11, out);
    const x = new Float32Array(rows * inputSize);
    const xT = new Float32Array(rows * inputSize);
    let conditions = 0;
    for (let r = 0; r < rows; r++) {
      const i = indices[3 + r];
      conditions += cond[i];
      for (let k = 0; k < inputSize; k++) {
        x[r * inputSize + k] = images[i * inputSize + k] / 255;
        xT[k * rows + r] = images[i * inputSize + k] / 255;
      }
      expect(Array.from(out.label.subarray(r * 11, r * 11 + 11))).toEqual(Array.from({ length: 11 }, (_, c) => (c === 10 ? cond[i] : c === labels[i] ? 1 : 0)));
    }
    expect(n).toBe(conditions);
    expect(Buffer.from(out.x.buffer).equals(Buffer.from(x.buffer))).toBe(true);
    expect(Buffer.from(out.xT.buffer).equals(Buffer.from(xT.buffer))).toBe(true);
  });
});
