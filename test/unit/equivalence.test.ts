// The oracle of data parallelism: N real worker threads, each on its shard, reduce to
// the gradient that one process computes on the full batch. The gradient comes through
// the training loop's own step loops (oneStepGradient), the only way to one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/model/init-backend.js';
import { shardLossAndGradient, weightInputs } from '../../src/model/mlp.js';
import { Kernels } from '../../src/model/kernels.js';
import { closePool } from '../../src/engine/pool.js';
import type { WorkerPool } from '../../src/engine/pool.js';
import { planShards, splitShards } from '../../src/engine/shards.js';
import { gatherRows } from '../../src/paths/fast/gather.js';
import { resolveSettings } from '../../src/settings/config.js';
import type { RunPlan } from '../../src/run/plan.js';
import type { loadShared } from '../../src/run/start.js';
import { oneStepGradient } from '../../src/engine/step-loops.js';
import { maxRelDiff, planOf, startPlan } from '../helpers.js';

const NUM_TRAIN = 3000;
const MODEL = { hidden: [{ units: 64, activation: 'relu' as const }], numClasses: 10 };

beforeAll(async () => {
  await initBackend('wasm');
});

/** The single-process reference: the whole batch in this thread, divided by the normaliser. */
function fullBatchGradient(plan: RunPlan, shared: ReturnType<typeof loadShared>, batch: Int32Array, normalize: 'batch' | 'condition') {
  const { views } = shared;
  const { spec: model, layout } = plan.model;
  const rows = batch.length;
  const buf = { x: new Float32Array(rows * 784), xT: new Float32Array(rows * 784), label: new Float32Array(rows * 11) };
  const conditionSum = gatherRows(views.trainImages, views.trainY, batch, 0, rows, 784, 11, buf);
  const normaliser = normalize === 'batch' ? rows : Math.max(conditionSum, 1);
  const k = new Kernels();
  const flat = new Float32Array(layout.numParams);
  shardLossAndGradient(k, weightInputs(k, views.weights, layout), model, layout, rows, buf, flat);
  k.release();
  return flat.map((v) => v / normaliser);
}

/** Batch indices whose first `evenFirst` rows all have even labels (so shard 0 has no odd label). */
function batchIndices(labels: Uint8Array, size: number, evenFirst: number, offset: number): Int32Array {
  const even: number[] = [];
  const rest: number[] = [];
  for (let i = offset; (even.length < evenFirst || rest.length < size - evenFirst) && i < labels.length; i++) {
    (labels[i] % 2 === 0 ? even : rest).push(i);
  }
  return Int32Array.from([...even.slice(0, evenFirst), ...rest.slice(0, size - evenFirst)]);
}

describe.each([1, 2, 3, 4])('%i worker(s)', (numWorkers) => {
  const batchSize = 130; // not divisible by 3 or 4: shards of unequal size
  let wp: WorkerPool;
  let shared: ReturnType<typeof loadShared>;
  let plan: RunPlan;

  beforeAll(async () => {
    plan = await planOf(resolveSettings({ workers: numWorkers, threads: numWorkers, batchSize, limit: NUM_TRAIN, seed: 11, model: MODEL, mask: 'odd' }));
    ({ wp, ...shared } = await startPlan(plan));
  });
  afterAll(async () => {
    if (wp) await closePool(wp);
  });

  for (const normalize of ['batch', 'condition'] as const) {
    it(`reduced gradient equals the full-batch gradient within 1e-5 (normalize ${normalize}, shard 0 without odd labels when N > 1)`, async () => {
      const shards = splitShards(batchSize, numWorkers);
      // With one worker its only shard is the batch: then only the first 40 rows are even.
      const batch = batchIndices(shared.views.trainLabels, batchSize, numWorkers > 1 ? shards[0][1] : 40, 100);
      expect(batch.length).toBe(batchSize);
      shared.views.batch.set(batch);
      const grad = new Float32Array(plan.model.layout.numParams);
      const g = await oneStepGradient(wp, shared.views, planShards(batchSize, numWorkers), normalize, grad);
      const ref = fullBatchGradient(plan, shared, batch, normalize);
      expect(maxRelDiff(grad, ref)).toBeLessThan(1e-5);
      // Not vacuous: the gradient is non-zero and the normaliser is the global one.
      expect(Math.max(...grad.map(Math.abs))).toBeGreaterThan(1e-3);
      const odd = [...batch].filter((i) => shared.views.trainLabels[i] % 2 === 1).length;
      expect(g.normaliser).toBe(normalize === 'batch' ? batchSize : odd);
    });
  }

  it('a batch with no condition-1 row gives a zero gradient with --normalize condition (no division by zero)', async () => {
    const batch = batchIndices(shared.views.trainLabels, batchSize, batchSize, 0);
    shared.views.batch.set(batch);
    const grad = new Float32Array(plan.model.layout.numParams);
    const g = await oneStepGradient(wp, shared.views, planShards(batchSize, numWorkers), 'condition', grad);
    expect(g.normaliser).toBe(1);
    expect(g.loss).toBe(0);
    expect(grad.every((v) => v === 0)).toBe(true);
  });
});
