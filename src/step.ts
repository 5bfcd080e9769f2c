// The gradient half of a step, as the coordinator sees it: dispatch one task per worker,
// check what comes back, reduce the slabs. The loop in train.ts applies Adam after it.
import type { Config } from './config.js';
import { reduceGradients } from './optimizer.js';
import type { WorkerPool } from './pool.js';
import type { GradientResult } from './protocol.js';
import { TASK } from './protocol.js';
import type { SharedViews } from './shared-memory.js';
import { CONTROL } from './shared-memory.js';
import type { ShardPlan } from './shards.js';

/**
 * One gradient task per worker for the batch now in `views.batch`. The tasks may be
 * sent before `weightsVersion` is published: workers gather their rows, then wait for it.
 */
export function dispatchStep(wp: WorkerPool, plan: ShardPlan, step: number, weightsVersion: number): Promise<GradientResult[]> {
  const tasks = new Array<Promise<GradientResult>>(plan.tasks.length);
  for (let i = 0; i < plan.tasks.length; i++) {
    const { start, end, slab, microRows } = plan.tasks[i];
    tasks[i] = wp.pool.run({ kind: TASK.gradient, step, weightsVersion, slab, start, end, microRows }) as Promise<GradientResult>;
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
  /** The slowest task's time with its weights in hand. */
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
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    if (r.weightsVersion !== weightsVersion) {
      throw new Error(`step ${step}: shard ${i} used weights version ${r.weightsVersion}, expected ${weightsVersion}`);
    }
    if (r.numTensors !== wp.baselineTensors) {
      throw new Error(`step ${step}: shard ${i}'s worker holds ${r.numTensors} tensors, expected ${wp.baselineTensors} (a leak)`);
    }
    if (!Number.isFinite(r.lossSum)) throw new Error(`step ${step}: shard ${i} returned a non-finite loss (${r.lossSum})`);
    // Micro-shard losses are added one by one, in order, like their gradients.
    if (r.microLossSums) for (const l of r.microLossSums) lossSum += l;
    else lossSum += r.lossSum;
    conditionSum += r.conditionSum;
    computeMs = Math.max(computeMs, r.timings.computeMs);
  }
  const normaliser = normalize === 'batch' ? batchSize : Math.max(conditionSum, 1);
  reduceGradients(views.slabs, normaliser, grad);
  return { loss: lossSum / normaliser, normaliser, computeMs };
}

/** Dispatch, wait and reduce with the weights already published: one step's gradient. */
export async function computeGradient(
  wp: WorkerPool, views: SharedViews, plan: ShardPlan, step: number,
  normalize: Config['normalize'], grad: Float32Array,
): Promise<StepGradient> {
  const weightsVersion = Atomics.load(views.control, CONTROL.weightsVersion);
  const results = await dispatchStep(wp, plan, step, weightsVersion);
  const batchSize = plan.tasks[plan.tasks.length - 1].end;
  return reduceStep(results, views, wp, step, weightsVersion, batchSize, normalize, grad);
}
