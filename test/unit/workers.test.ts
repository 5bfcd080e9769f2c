// Real worker threads: each loads the wasm backend and, in its step loop, computes a
// gradient into its own slab; tensor counts stay constant; and the pool refuses to
// start with a broken worker set-up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePool, createPool } from '../../src/engine/pool.js';
import type { WorkerPool } from '../../src/engine/pool.js';
import type { PingResult } from '../../src/engine/protocol.js';
import { batchSlot } from '../../src/engine/shared-memory.js';
import { planShards } from '../../src/engine/shards.js';
import { oneStepGradient } from '../../src/engine/step-loops.js';
import { resolveSettings } from '../../src/settings/config.js';
import type { RunPlan } from '../../src/run/plan.js';
import { loadShared, workerInit } from '../../src/run/start.js';
import { mnistData, planOf } from '../helpers.js';

const MODEL = { hidden: [{ units: 64, activation: 'relu' as const }], numClasses: 10 };

describe('worker threads', () => {
  let wp: WorkerPool;
  let shared: ReturnType<typeof loadShared>;
  let plan: RunPlan;
  beforeAll(async () => {
    plan = await planOf(resolveSettings({ workers: 2, batchSize: 64, limit: 1000, seed: 1, model: MODEL }));
    shared = loadShared(mnistData(), plan);
    plan.model.init(shared.views.weights);
    wp = await createPool(workerInit(shared.buffers, plan), 2);
  });
  afterAll(async () => {
    if (wp) await closePool(wp);
  });

  it('two threads each run the wasm backend and compute a gradient into their own slab', async () => {
    const pings = await Promise.all([0, 1].map(() => wp.pool.run({ kind: 'ping' }) as Promise<PingResult>));
    for (const p of pings) expect(p.backend).toBe('wasm');
    expect(new Set(wp.threads.map((t) => t.threadId)).size).toBe(2);
    batchSlot(shared.views, 0).set(Int32Array.from({ length: 64 }, (_, i) => i));
    shared.views.slabs.forEach((s) => s.fill(NaN));
    const grad = new Float32Array(plan.model.layout.numParams);
    const g = await oneStepGradient(wp, shared.views, planShards(64, 2), 'batch', grad);
    expect(g.results).toHaveLength(2);
    for (const [i, r] of g.results.entries()) {
      expect(r.weightsVersion).toBe(0);
      expect(r.lossSum).toBeGreaterThan(0);
      expect(r.numTensors).toBe(wp.baselineTensors);
      const slab = shared.views.slabs[i];
      expect(slab.every(Number.isFinite)).toBe(true);
      expect(slab.some((v) => v !== 0)).toBe(true);
    }
    // The two shards' different rows give different gradient sums.
    expect(shared.views.slabs[0].some((v, k) => v !== shared.views.slabs[1][k])).toBe(true);
  });

  it('every step leaves the tensor count unchanged, whatever the shard sizes', async () => {
    for (let step = 0; step < 20; step++) {
      const rows = 17 + step;
      batchSlot(shared.views, 0).set(Int32Array.from({ length: 64 }, (_, i) => (i * 7 + step) % 1000));
      // Uneven shards within the 64-row slots: [0, rows) and [rows, 64).
      const uneven = { tasks: [{ start: 0, end: rows, slab: 0, parts: [[0, rows]] as [number, number][] }, { start: rows, end: 64, slab: 1, parts: [[rows, 64]] as [number, number][] }], numSlabs: 2 };
      const g = await oneStepGradient(wp, shared.views, uneven, 'batch', new Float32Array(plan.model.layout.numParams));
      for (const r of g.results) expect(r.numTensors).toBe(wp.baselineTensors);
    }
  });

  it('a worker that cannot start (its layout check fails) fails the pool start-up loudly, and the pool is shut down', async () => {
    // The same sizes, another name: only the worker's own layout, recomputed from the model spec, tells them apart.
    const wrongLayout = { ...plan.model.layout, params: plan.model.layout.params.map((p, i) => (i === 0 ? { ...p, name: 'other/kernel' } : p)) };
    await expect(createPool({ ...workerInit(shared.buffers, plan), layout: wrongLayout }, 1))
      .rejects.toThrow(/parameter layout mismatch/);
  });

  it('a layout of another size than the shared memory fails the pool start-up, named, too', async () => {
    const wrongLayout = { ...plan.model.layout, numParams: plan.model.layout.numParams + 1 };
    await expect(createPool({ ...workerInit(shared.buffers, plan), layout: wrongLayout }, 1))
      .rejects.toThrow(/parameter layout mismatch: the shared weights hold 50890 parameters, the layout 50891/);
  });
});
