// The gradient half of a step, as the coordinator sees it: dispatch one task per worker,
// check what comes back, reduce the slabs. The loop in train.ts applies Adam after it.
import type { Config } from './config.js';
import { reduceGradients } from './optimizer.js';
import type { WorkerPool } from './pool.js';
import type { GradientResult, GradientTask } from './protocol.js';
import { TASK } from './protocol.js';
import type { SharedViews } from './shared-memory.js';
import { CONTROL } from './shared-memory.js';
import type { ShardPlan } from './shards.js';

/** How a step survives a worker that throws, exits or hangs. */
export interface FaultPolicy {
  /** A task running longer than this is aborted (its thread is terminated and replaced). */
  stepTimeoutMs: number;
  /** The run stops after this many consecutive failures of the same shard. */
  maxRetries: number;
  /** Told of every failure that will be retried or that ends the run. */
  onFault: (fault: { workerIndex: number; step: number; cause: string; retry: number; fatal: boolean }) => void;
}

export const NO_FAULT_TOLERANCE: FaultPolicy = { stepTimeoutMs: 2 ** 31 - 1, maxRetries: 1, onFault: () => undefined };

/** A shard that failed `maxRetries` times in a row: the run must stop. */
export class ShardFailedError extends Error {
  readonly code = 'E_SHARD_FAILED';
}

/** A non-finite loss or gradient: not a worker fault, so never retried. */
export class NonFiniteError extends Error {
  readonly code = 'E_NON_FINITE';
}

/**
 * Runs one shard's task, retrying on a fresh thread when the worker throws, exits or
 * hangs. Safe because the shared weights only change after every shard of the step is
 * reduced: the retry sees the same weights version and rewrites the same slab, so the
 * step's result equals a fault-free step.
 */
async function runShard(wp: WorkerPool, task: GradientTask, workerIndex: number, policy: FaultPolicy): Promise<GradientResult> {
  for (let attempt = 0; ; attempt++) {
    try {
      const signal = AbortSignal.timeout(policy.stepTimeoutMs);
      const r = (await wp.pool.run({ ...task, attempt }, { signal })) as GradientResult;
      if (!Number.isFinite(r.lossSum) || r.nonFinite) {
        throw new NonFiniteError(`step ${task.step}: shard ${workerIndex} produced a non-finite ${r.nonFinite ? 'gradient' : `loss (${r.lossSum})`}`);
      }
      return r;
    } catch (e) {
      if (e instanceof NonFiniteError || wp.closed) throw e;
      const err = e as Error;
      const cause = err.name === 'AbortError' ? `no result within --step-timeout ${policy.stepTimeoutMs} ms (thread terminated)` : err.message;
      const fatal = attempt + 1 >= policy.maxRetries;
      policy.onFault({ workerIndex, step: task.step, cause, retry: attempt + 1, fatal });
      if (fatal) throw new ShardFailedError(`step ${task.step}: shard ${workerIndex} failed ${attempt + 1} times in a row; last cause: ${cause}`);
    }
  }
}

/**
 * One gradient task per worker for the batch now in `views.batch`. The tasks may be
 * sent before `weightsVersion` is published: workers gather their rows, then wait for it.
 */
export function dispatchStep(wp: WorkerPool, plan: ShardPlan, step: number, weightsVersion: number, policy: FaultPolicy = NO_FAULT_TOLERANCE): Promise<GradientResult[]> {
  const tasks = new Array<Promise<GradientResult>>(plan.tasks.length);
  for (let i = 0; i < plan.tasks.length; i++) {
    const { start, end, slab, microRows } = plan.tasks[i];
    tasks[i] = runShard(wp, { kind: TASK.gradient, step, weightsVersion, slab, start, end, microRows, shard: i, attempt: 0 }, i, policy);
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
  normalize: Config['normalize'], grad: Float32Array, policy: FaultPolicy = NO_FAULT_TOLERANCE,
): Promise<StepGradient> {
  const weightsVersion = Atomics.load(views.control, CONTROL.weightsVersion);
  const results = await dispatchStep(wp, plan, step, weightsVersion, policy);
  const batchSize = plan.tasks[plan.tasks.length - 1].end;
  return reduceStep(results, views, wp, step, weightsVersion, batchSize, normalize, grad);
}

/**
 * max |a - b| over max |b|: how far a reduced gradient is from a reference, relative to
 * the reference's largest entry (per-entry ratios blow up on entries near zero). The
 * exactness measure of the scale script and the equivalence tests.
 */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}
