// The gradient half of a step, as the coordinator sees it: get every shard's gradient
// sum, check the results, reduce the slabs. The loop in train.ts applies Adam after it.
// Two ways to get the shards' work done: StepLoops (below), the training loop's, with
// one long-running task per shard and shared memory both ways; and one task per shard
// for a single step (dispatchStep, computeGradient), used by tests and the scale
// script's exactness check. Both run the same worker code for a step.
import type { Config } from './config.js';
import { reduceGradients } from './optimizer.js';
import type { WorkerPool } from './pool.js';
import type { GradientResult, GradientTask, LoopTask } from './protocol.js';
import { TASK } from './protocol.js';
import type { SharedViews } from './shared-memory.js';
import { CONTROL, doneSlot, failedSlot, readResult } from './shared-memory.js';
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

/** A signal came and the step in flight did not finish within STEP_GRACE_MS: the run stops without it. */
export class StepAbandoned extends Error {
  readonly code = 'E_STOPPED';
  constructor(readonly signal: NodeJS.Signals, step: number) {
    super(`step ${step} abandoned after ${signal}: no result within ${STEP_GRACE_MS} ms`);
  }
}

/**
 * How long a signal waits for the step in flight. Under the CLI's SIGNAL_GRACE_MS, so a
 * hung step still leaves time to write the checkpoint of the steps before it.
 */
const STEP_GRACE_MS = 1000;

/** A non-finite loss or gradient: not a worker fault, so never retried. */
export class NonFiniteError extends Error {
  readonly code = 'E_NON_FINITE';
}

/** Throws NonFiniteError when a shard's loss or gradient is NaN or infinite. */
function checkFinite(r: GradientResult, step: number, shard: number): GradientResult {
  if (r.nonFinite || !Number.isFinite(r.lossSum)) {
    throw new NonFiniteError(`step ${step}: shard ${shard} produced a non-finite ${r.nonFinite ? 'gradient' : `loss (${r.lossSum})`}`);
  }
  return r;
}

const timeoutCause = (policy: FaultPolicy) => `no result within --step-timeout ${policy.stepTimeoutMs} ms (thread terminated)`;

/**
 * Reports failure number `attempt + 1` of a shard at a step; throws ShardFailedError
 * when that was the last one the policy allows.
 */
function reportFault(policy: FaultPolicy, shard: number, step: number, attempt: number, cause: string): void {
  const fatal = attempt + 1 >= policy.maxRetries;
  policy.onFault({ workerIndex: shard, step, cause, retry: attempt + 1, fatal });
  if (fatal) throw new ShardFailedError(`step ${step}: shard ${shard} failed ${attempt + 1} times in a row; last cause: ${cause}`);
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
      return checkFinite((await wp.pool.run({ ...task, attempt }, { signal })) as GradientResult, task.step, workerIndex);
    } catch (e) {
      if (e instanceof NonFiniteError || wp.closed) throw e;
      const err = e as Error;
      reportFault(policy, workerIndex, task.step, attempt, err.name === 'AbortError' ? timeoutCause(policy) : err.message);
    }
  }
}

/**
 * One gradient task per worker for the batch now in the step's slot (batchSlot). The tasks may be
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

/**
 * The training loop's side of the step loops (see LoopTask in protocol.ts): one
 * long-running Piscina task per shard instead of one task per shard per step, so a
 * step costs no task dispatch and no result message. The coordinator publishes each
 * step's batch and weights in shared memory and blocks on the shards' done words
 * (Atomics.wait). Why: with one task per shard per step, sending the tasks took
 * 0.18-0.36 ms of a 2.9-3.8 ms step (the dispatch column of `npm run scale` at
 * batch 128, 1 and 2 workers) and a worker's postMessage of its result 0.18 ms
 * (`node --cpu-prof`), plus an event-loop wake-up for every result.
 *
 * Fault handling is the same as runShard's: a loop whose thread throws, exits or
 * misses --step-timeout is reported, and the shard restarts from the step it failed
 * on, on a fresh thread, with the same weights version, so the step's result equals
 * a fault-free step's; after maxRetries failures in a row the run stops.
 */
export class StepLoops {
  private readonly loops: { promise: Promise<unknown>; abort: AbortController; error: Error | null; settled: boolean }[] = [];
  private lastYield = performance.now();

  constructor(
    private readonly wp: WorkerPool,
    private readonly views: SharedViews,
    private readonly plan: ShardPlan,
    private readonly lastStep: number,
    private readonly policy: FaultPolicy,
  ) {}

  /** Puts step `step`'s batch (already in its slot, batchSlot) in the workers' hands. */
  publishBatch(step: number): void {
    Atomics.store(this.views.control, CONTROL.batchStep, step + 1);
    Atomics.notify(this.views.control, CONTROL.batchStep);
  }

  /** Starts every shard's loop at `firstStep`, whose weights are version `firstVersion`. */
  start(firstStep: number, firstVersion: number): void {
    for (let i = 0; i < this.plan.tasks.length; i++) this.startShard(i, firstStep, firstVersion, 0);
  }

  private startShard(shard: number, firstStep: number, firstVersion: number, attempt: number): void {
    const { start, end, slab, microRows } = this.plan.tasks[shard];
    Atomics.store(this.views.control, failedSlot(shard), 0);
    const abort = new AbortController();
    const task: LoopTask = { kind: TASK.loop, shard, slab, start, end, microRows, firstStep, lastStep: this.lastStep, firstVersion, attempt };
    const loop = { promise: this.wp.pool.run(task, { signal: abort.signal }), abort, error: null as Error | null, settled: false };
    // Marked handled here: a failure is read from `loop.error` when the coordinator next waits.
    loop.promise.then(() => { loop.settled = true; }, (e: Error) => { loop.settled = true; loop.error = e; });
    this.loops[shard] = loop;
  }

  /**
   * Every shard's result for `step` (computed with weights `version`), once each has
   * marked it done; shards that fail are restarted at `step` as the policy allows.
   */
  async results(step: number, version: number, stopRequested: () => NodeJS.Signals | null = () => null): Promise<GradientResult[]> {
    const out: GradientResult[] = [];
    for (let i = 0; i < this.plan.tasks.length; i++) {
      for (let attempt = 0; ; attempt++) {
        const cause = await this.waitDone(i, step, stopRequested);
        if (cause === null) break;
        reportFault(this.policy, i, step, attempt, cause);
        this.startShard(i, step, version, attempt + 1);
      }
      out.push(checkFinite(readResult(this.views, i, this.plan.tasks[i]), step, i));
    }
    return out;
  }

  /**
   * Blocks until shard `shard` has finished `step` (returns null) or its loop failed
   * (returns the cause). The block is a plain Atomics.wait, in slices of at most
   * YIELD_MS, and the event loop runs at least every YIELD_MS, so signals, Piscina's
   * messages (a loop's rejection) and timers are not held up by a long step.
   */
  private async waitDone(shard: number, step: number, stopRequested: () => NodeJS.Signals | null): Promise<string | null> {
    const { control } = this.views;
    const deadline = performance.now() + this.policy.stepTimeoutMs;
    let stopSeenAt = -1;
    for (;;) {
      if (performance.now() - this.lastYield >= YIELD_MS) {
        await this.yieldToEventLoop();
        // A signal stops the run after the step in flight, unless that step hangs.
        const signal = stopRequested();
        if (signal && stopSeenAt < 0) stopSeenAt = performance.now();
        if (signal && performance.now() - stopSeenAt >= STEP_GRACE_MS) throw new StepAbandoned(signal, step);
      }
      const v = Atomics.load(control, doneSlot(shard));
      if (v >= step + 1) return null;
      const loop = this.loops[shard];
      if (Atomics.load(control, failedSlot(shard)) !== 0 || loop.settled) {
        // The loop ended without finishing the step: its rejection says why (it may
        // still be in flight when the worker's failed flag woke us).
        await loop.promise.catch(() => undefined);
        return loop.error?.message ?? `the step loop ended before step ${step}`;
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        loop.abort.abort(); // Piscina terminates the thread and starts a fresh one
        await loop.promise.catch(() => undefined);
        return timeoutCause(this.policy);
      }
      Atomics.wait(control, doneSlot(shard), v, Math.min(left, YIELD_MS));
    }
  }

  private async yieldToEventLoop(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.lastYield = performance.now();
  }

  /**
   * Asks every loop to return at its next wait and waits up to `graceMs` for them to
   * end; a loop still running after that (a hung thread) is aborted, its thread
   * terminated.
   */
  async stop(graceMs: number): Promise<void> {
    Atomics.store(this.views.control, CONTROL.stop, 1);
    Atomics.notify(this.views.control, CONTROL.batchStep);
    Atomics.notify(this.views.control, CONTROL.weightsVersion);
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); });
    await Promise.race([Promise.all(this.loops.map((l) => l.promise.catch(() => undefined))), grace]);
    clearTimeout(timer);
    for (const l of this.loops) if (!l.settled) l.abort.abort();
  }
}

/** The event loop runs at least this often during training (signals, messages, timers). */
const YIELD_MS = 20;
