// The gradient half of a step, as the coordinator sees it: dispatch one task per shard,
// check what comes back, reduce the slabs. The loop in train.ts applies Adam after it.
import type { Config } from './config.js';
import { reduceGradients } from './optimizer.js';
import type { WorkerPool } from './pool.js';
import type { GradientResult } from './protocol.js';
import { TASK } from './protocol.js';
import type { SharedViews } from './shared-memory.js';
import { CONTROL } from './shared-memory.js';

/**
 * One gradient task per shard of the batch now in `views.batch`. The tasks may be sent
 * before `weightsVersion` is published: workers gather their rows, then wait for it.
 */
export function dispatchStep(wp: WorkerPool, shards: readonly [number, number][], step: number, weightsVersion: number): Promise<GradientResult[]> {
  const tasks = new Array<Promise<GradientResult>>(shards.length);
  for (let shardIndex = 0; shardIndex < shards.length; shardIndex++) {
    const [start, end] = shards[shardIndex];
    tasks[shardIndex] = wp.pool.run({ kind: TASK.gradient, step, weightsVersion, shardIndex, start, end }) as Promise<GradientResult>;
  }
  const all = Promise.all(tasks);
  // Marked handled here: the loop awaits it one phase later, and a failure in between
  // (or at shutdown) must not surface as an unhandled rejection.
  all.catch(() => undefined);
  return all;
}

export interface StepGradient {
  /** The step's loss: the sum over the batch divided by the normaliser. */
  loss: number;
  normaliser: number;
  /** The slowest shard's time with its weights in hand (compute + write). */
  computeMs: number;
}

/**
 * Checks every result (weights version, tensor count, finite loss), then
 * grad = (slab 0 + slab 1 + ...) / normaliser. The normaliser is GLOBAL: the batch
 * size, or the count of condition-1 rows in the whole batch (1 if there are none).
 */
export function reduceStep(
  results: readonly GradientResult[], views: SharedViews, wp: WorkerPool, step: number, weightsVersion: number,
  batchSize: number, normalize: Config['normalize'], grad: Float32Array,
): StepGradient {
  let lossSum = 0;
  let conditionSum = 0;
  let computeMs = 0;
  for (let shardIndex = 0; shardIndex < results.length; shardIndex++) {
    const r = results[shardIndex];
    if (r.weightsVersion !== weightsVersion) {
      throw new Error(`step ${step}: shard ${shardIndex} used weights version ${r.weightsVersion}, expected ${weightsVersion}`);
    }
    if (r.numTensors !== wp.baselineTensors) {
      throw new Error(`step ${step}: shard ${shardIndex}'s worker holds ${r.numTensors} tensors, expected ${wp.baselineTensors} (a leak)`);
    }
    if (!Number.isFinite(r.lossSum)) throw new Error(`step ${step}: shard ${shardIndex} returned a non-finite loss (${r.lossSum})`);
    lossSum += r.lossSum;
    conditionSum += r.conditionSum;
    computeMs = Math.max(computeMs, r.timings.computeMs + r.timings.writeMs);
  }
  const normaliser = normalize === 'batch' ? batchSize : Math.max(conditionSum, 1);
  reduceGradients(views.slabs, normaliser, grad);
  return { loss: lossSum / normaliser, normaliser, computeMs };
}

/** Dispatch, wait and reduce with the weights already published: one step's gradient. */
export async function computeGradient(
  wp: WorkerPool, views: SharedViews, shards: readonly [number, number][], step: number,
  normalize: Config['normalize'], grad: Float32Array,
): Promise<StepGradient> {
  const weightsVersion = Atomics.load(views.control, CONTROL.weightsVersion);
  const results = await dispatchStep(wp, shards, step, weightsVersion);
  return reduceStep(results, views, wp, step, weightsVersion, shards[shards.length - 1][1], normalize, grad);
}
