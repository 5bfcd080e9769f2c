// Real worker threads: each loads the wasm backend and computes a gradient, and the
// pool refuses to start without its compiled worker or with a broken backend.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMask } from '../src/labels.js';
import type { MaskRule } from '../src/labels.js';
import { closePool, createPool } from '../src/pool.js';
import type { WorkerPool } from '../src/pool.js';
import type { GradientResult, PingResult } from '../src/protocol.js';
import { CONTROL } from '../src/shared-memory.js';
import { initWeights, loadShared } from '../src/setup.js';
import { mnistData } from './helpers.js';

const MODEL = { hidden: [{ units: 64, activation: 'relu' as const }], numClasses: 10 };

describe('worker threads', () => {
  let wp: WorkerPool;
  let shared: ReturnType<typeof loadShared>;
  beforeAll(async () => {
    shared = loadShared(mnistData(), 1000, parseMask('odd') as MaskRule, { workers: 2, batchSize: 64, model: MODEL });
    initWeights(shared.layout, 1, shared.views.weights);
    wp = await createPool({ buffers: shared.buffers, model: shared.model, layout: shared.layout, backend: 'wasm' }, 2);
  });
  afterAll(async () => {
    if (wp) await closePool(wp);
  });

  it('two threads each run the wasm backend and compute a gradient into their own slab', async () => {
    const pings = await Promise.all([0, 1].map(() => wp.pool.run({ kind: 'ping' }) as Promise<PingResult>));
    for (const p of pings) expect(p.backend).toBe('wasm');
    shared.views.batch.set(Int32Array.from({ length: 64 }, (_, i) => i));
    Atomics.store(shared.views.control, CONTROL.weightsVersion, 5);
    shared.views.slabs.forEach((s) => s.fill(NaN));
    const results = await Promise.all([[0, 32], [32, 64]].map(([start, end], shardIndex) =>
      wp.pool.run({ kind: 'gradient', step: 0, weightsVersion: 5, slab: shardIndex, start, end, microRows: 0 }) as Promise<GradientResult>));
    expect(new Set(results.map((r) => r.threadId)).size).toBe(2);
    for (const [i, r] of results.entries()) {
      expect(r.rows).toBe(32);
      expect(r.weightsVersion).toBe(5);
      expect(r.lossSum).toBeGreaterThan(0);
      expect(r.numTensors).toBe(wp.baselineTensors);
      const slab = shared.views.slabs[i];
      expect(slab.every(Number.isFinite)).toBe(true);
      expect(slab.some((v) => v !== 0)).toBe(true);
    }
  });

  it('every task leaves the tensor count unchanged', async () => {
    for (let step = 0; step < 20; step++) {
      const r = (await wp.pool.run({ kind: 'gradient', step, weightsVersion: 5, slab: step % 2, start: 0, end: 17 + step, microRows: 0 })) as GradientResult;
      expect(r.numTensors).toBe(wp.baselineTensors);
    }
  });

  it('a worker that cannot start (its layout check fails) fails the pool start-up loudly, and the pool is shut down', async () => {
    const wrongLayout = { ...shared.layout, numParams: shared.layout.numParams + 1 };
    await expect(createPool({ buffers: shared.buffers, model: shared.model, layout: wrongLayout, backend: 'wasm' }, 1))
      .rejects.toThrow(/parameter layout mismatch/);
  });
});
