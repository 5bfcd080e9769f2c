// Shard splitting and row gathering.
import { describe, expect, it } from 'vitest';
import { gatherRows, splitShards } from '../src/engine/shards.js';

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
    const n = gatherRows(images, labels, cond, Int32Array.from([9, 0, 2]), 1, 3, 2, 3, out);
    expect(n).toBe(1);
    const close = (a: Float32Array, b: number[]) => b.forEach((v, i) => expect(a[i]).toBeCloseTo(v, 6));
    close(out.x, [0, 1, 1, 0]); // rows 0 and 2 of the dataset
    close(out.xT, [0, 1, 1, 0].map((_, i) => [0, 1, 1, 0][(i % 2) * 2 + Math.floor(i / 2)]));
    const images2 = Uint8Array.from([51, 102, 255, 0]);
    gatherRows(images2, labels, cond, Int32Array.from([0, 1]), 0, 2, 2, 3, out);
    close(out.x, [0.2, 0.4, 1, 0]);
    close(out.xT, [0.2, 1, 0.4, 0]);
    expect([...out.label]).toEqual([0, 1, 0, 1, 1, 0, 0, 0]);
  });
});
