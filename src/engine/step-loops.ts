// A step as the coordinator sees it: one long-running step loop per shard (StepLoops)
// runs every step, gradient and update (each loop reduces and updates its own slice of
// the parameters, src/optim/update.ts updateSlice); the coordinator reads every shard's
// result behind them, checks it and restarts a shard that fails. The equivalence tests
// and the scale script's exactness check call `oneStepGradient`, which runs the same
// loops for a single step without updating. There is no other way to a gradient.
import type { WorkerPool } from './pool.js';
import type { LoopResult, LoopTask, UpdateTask } from './protocol.js';
import { TASK, TASK_FAULT } from './protocol.js';
import { normaliserOf } from '../optim/update.js';
import type { Normalize } from '../optim/update.js';
import { readResult, readTiming } from './shared-memory.js';
import type { ShardResult, SharedViews } from './shared-memory.js';
import type { ShardPlan } from './shards.js';
import { splitShards } from './shards.js';
import { CoordinatorChannel } from './step-channel.js';

/** How a step survives a worker that throws, exits or hangs. */
export interface FaultPolicy {
  /** A loop with no result for this long is aborted (its thread is terminated and replaced). */
  stepTimeoutMs: number;
  /** The run stops after this many consecutive failures of the same shard. */
  maxRetries: number;
  /** Told of every failure that will be retried or that ends the run. */
  onFault: (fault: { workerIndex: number; step: number; cause: string; retry: number; fatal: boolean }) => void;
}

const NO_FAULT_TOLERANCE: FaultPolicy = { stepTimeoutMs: 2 ** 31 - 1, maxRetries: 1, onFault: () => undefined };

/** A shard that failed `maxRetries` times in a row: the run must stop. */
export class ShardFailedError extends Error {
  readonly code = 'E_SHARD_FAILED';
}

/** Why a run stops before its last step: a signal (the CLI) or an AbortSignal (train()). */
export type StopReason = NodeJS.Signals | 'abort';

/** A stop came and the step in flight did not finish within STEP_GRACE_MS: the run stops without it. */
export class StepAbandoned extends Error {
  readonly code = 'E_STOPPED';
  constructor(readonly signal: StopReason, step: number) {
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
function checkFinite(r: ShardResult, step: number, shard: number, taskName: string | null): ShardResult {
  if (r.nonFinite || !Number.isFinite(r.lossSum)) {
    const task = taskName ? ` (task ${taskName})` : '';
    throw new NonFiniteError(`step ${step}: shard ${shard} produced a non-finite ${r.nonFinite ? 'gradient' : `loss (${r.lossSum})`}${task}`);
  }
  return r;
}

export interface StepGradient {
  /** The step's loss: the sum over the batch divided by the normaliser. */
  loss: number;
  normaliser: number;
  /** The slowest shard's time with its weights in hand. */
  computeMs: number;
}

/**
 * Checks every result of `step` (weights version, tensor count) and gives the step's
 * loss: the sum over the batch divided by the GLOBAL normaliser, the batch size or the
 * sum of the whole batch's sample weights (1 if it is 0): for the built-in task its
 * count of condition-1 rows. The loops computed the same normaliser for their update.
 */
export function checkStep(
  results: readonly ShardResult[], wp: WorkerPool, step: number, weightsVersion: number,
  batchSize: number, normalize: Normalize,
): StepGradient {
  let lossSum = 0;
  let weightSum = 0;
  let computeMs = 0;
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    if (r.weightsVersion !== weightsVersion) {
      throw new Error(`step ${step}: shard ${i} used weights version ${r.weightsVersion}, expected ${weightsVersion}`);
    }
    if (r.numTensors !== wp.baselineTensors) {
      throw new Error(`step ${step}: shard ${i}'s worker holds ${r.numTensors} tensors, expected ${wp.baselineTensors} (a leak)`);
    }
    // A task's part losses (its shards, or micro-shards) are added one by one, in order,
    // like their gradients: the sum of N threads' shard losses.
    if (r.microLossSums) for (const l of r.microLossSums) lossSum += l;
    else lossSum += r.lossSum;
    weightSum += r.weightSum;
    computeMs = Math.max(computeMs, r.computeMs);
  }
  const normaliser = normaliserOf(normalize, batchSize, weightSum);
  return { loss: lossSum / normaliser, normaliser, computeMs };
}

export { normaliserOf };

/**
 * The reduced gradient of the batch now in step 0's slot (batchSlot(views, 0)), with
 * the weights now published, through the training loop's own step loops: the oracle
 * tests and the scale script's exactness check run the code that trains.
 */
export async function oneStepGradient(
  wp: WorkerPool, views: SharedViews, plan: ShardPlan, normalize: Normalize, grad: Float32Array,
): Promise<StepGradient & { results: ShardResult[] }> {
  const batchSize = plan.tasks[plan.tasks.length - 1].end;
  const loops = new StepLoops(wp, views, plan, 1, NO_FAULT_TOLERANCE, null, { batchSize, normalize, apply: false, stateRanges: [], clipNorm: null });
  loops.start(0, 0, 0);
  loops.publishBatch(0);
  try {
    const results = await loops.results(0, 0);
    grad.set(views.grad);
    return { ...checkStep(results, wp, 0, 0, batchSize, normalize), results };
  } finally {
    await loops.stop(2000);
  }
}

/**
 * One long-running Piscina task per shard runs the steps (see LoopTask in protocol.ts),
 * so a step costs no task dispatch and no result message: batches, weights and results
 * go through shared memory (step-channel.ts), and the coordinator sleeps while the
 * loops run (it is woken only where they would run out of batches, on a failure, or
 * every YIELD_MS). Why: with one task per shard per step, sending the tasks took 0.18-0.36 ms
 * of a 2.9-3.8 ms step (the dispatch column of `npm run scale` at batch 128, 1 and 2
 * workers) and a worker's postMessage of its result 0.18 ms (`node --cpu-prof`), plus an
 * event-loop wake-up for every result.
 *
 * Faults: a loop whose thread throws, exits or misses --step-timeout is reported, and
 * the shard restarts from the step it failed on (a terminated thread is replaced), from the same
 * weights (the step reads slot s % 2 and writes the other, and no slice is updated
 * before every gradient is written), so the step's result equals a fault-free step's; after maxRetries failures in a row the
 * run stops.
 */
export class StepLoops {
  readonly channel: CoordinatorChannel;
  private readonly loops: { promise: Promise<unknown>; abort: AbortController; error: Error | null; settled: boolean; result: LoopResult | null }[] = [];
  /** The first step and the optimiser's step count before it, of this set of loops (a restart at step s continues from them). */
  private firstStep = 0;
  private optT = 0;
  private lastYield = performance.now();
  /** The last step timed and when its last loop ended (timing). */
  private lastTimed = -2;
  private lastEndAt = 0;
  /** When a stop request was first seen: the grace of the step in flight counts from it. */
  private stopSeenAt = -1;

  constructor(
    private readonly wp: WorkerPool,
    private readonly views: SharedViews,
    private readonly plan: ShardPlan,
    private readonly lastStep: number,
    private readonly policy: FaultPolicy,
    /** A task module's path, named in a non-finite result's error (null: the built-in task). */
    private readonly taskName: string | null,
    /** The update phase's settings: the normaliser's inputs, whether to update, BatchNorm's ranges, clipping. */
    private readonly update: Pick<UpdateTask, 'batchSize' | 'normalize' | 'apply' | 'stateRanges' | 'clipNorm'>,
  ) {
    this.channel = new CoordinatorChannel(views.control, plan.tasks.length);
  }

  /** Puts step `step`'s batch (already in its slot, batchSlot) in the workers' hands. */
  publishBatch(step: number): void {
    this.channel.publishBatch(step);
  }

  /**
   * Starts every shard's loop at `firstStep`, whose weights are version `firstVersion`
   * and come after `optT` optimiser steps (the steps before it count as done).
   */
  start(firstStep: number, firstVersion: number, optT: number): void {
    this.firstStep = firstStep;
    this.lastTimed = -2; // a first step of these loops counts from their start (timing)
    this.optT = optT;
    this.channel.reset(firstStep);
    for (let i = 0; i < this.plan.tasks.length; i++) this.startShard(i, firstStep, firstVersion, 0);
  }

  private startShard(shard: number, firstStep: number, firstVersion: number, attempt: number): void {
    const { start, end, slab, parts } = this.plan.tasks[shard];
    this.channel.clearFailed(shard);
    const abort = new AbortController();
    const numShards = this.plan.tasks.length;
    const [sliceStart, sliceEnd] = splitShards(this.views.weights.length, numShards)[shard];
    const update: UpdateTask = { ...this.update, numShards, sliceStart, sliceEnd, optT: this.optT + (firstStep - this.firstStep) };
    // A loop waits for its peers at the barriers: longer than the coordinator waits for a
    // hung one (--step-timeout), so that the hung one, not a healthy one, is blamed.
    const waitTimeoutMs = Math.max(60_000, this.policy.stepTimeoutMs + 30_000);
    const task: LoopTask = { kind: TASK.loop, shard, slab, start, end, parts, firstStep, lastStep: this.lastStep, firstVersion, attempt, update, waitTimeoutMs };
    const loop = { promise: this.wp.pool.run(task, { signal: abort.signal }), abort, error: null as Error | null, settled: false, result: null as LoopResult | null };
    // Marked handled here: a failure is read from `loop.error` when the coordinator next waits.
    loop.promise.then((r) => { loop.settled = true; loop.result = r as LoopResult; }, (e: Error) => { loop.settled = true; loop.error = e; });
    this.loops[shard] = loop;
  }

  /**
   * Every shard's result for `step` (computed with weights `version`), once each has
   * marked it done; shards that fail are restarted at `step` as the policy allows. A
   * stop request (a signal) that the step in flight outlasts by STEP_GRACE_MS throws
   * StepAbandoned.
   */
  async results(step: number, version: number, stopRequested: () => StopReason | null = () => null, wakeAt = step + 1): Promise<ShardResult[]> {
    const n = this.plan.tasks.length;
    const attempts = new Array<number>(n).fill(0);
    for (;;) {
      const failure = await this.waitStep(step, stopRequested, wakeAt);
      if (failure === null) break;
      const { shard: i, cause } = failure;
      if (cause === HALTED) {
        // Every loop stopped before its update: a shard's loss or gradient is not finite.
        for (let j = 0; j < n; j++) checkFinite(readResult(this.views, j, this.plan.tasks[j], step), step, j, this.taskName);
        throw new NonFiniteError(`step ${step}: the step loops stopped on a non-finite result that no shard's record shows`);
      }
      const attempt = attempts[i]++;
      if (cause.startsWith(TASK_FAULT)) {
        this.policy.onFault({ workerIndex: i, step, cause, retry: attempt + 1, fatal: true });
        throw new ShardFailedError(`step ${step}: shard ${i}: ${cause.slice(TASK_FAULT.length)}`);
      }
      const fatal = attempt + 1 >= this.policy.maxRetries;
      this.policy.onFault({ workerIndex: i, step, cause, retry: attempt + 1, fatal });
      if (fatal) throw new ShardFailedError(`step ${step}: shard ${i} failed ${attempt + 1} times in a row; last cause: ${cause}`);
      this.startShard(i, step, version, attempt + 1);
    }
    const out: ShardResult[] = [];
    for (let i = 0; i < n; i++) out.push(checkFinite(readResult(this.views, i, this.plan.tasks[i], step), step, i, this.taskName));
    return out;
  }

  /**
   * Where step `step` went, once every shard has finished it: the slowest loop's step
   * time (each loop times its own steps in its own thread), the slowest shard's
   * gradient and the slowest slice's update.
   */
  timing(step: number, results: readonly ShardResult[]): { stepMs: number; computeMs: number; updateMs: number; gradNorm: number } {
    let firstMs = 0;
    let endAt = 0;
    let computeMs = 0;
    let updateMs = 0;
    for (let i = 0; i < results.length; i++) {
      const t = readTiming(this.views, i, step);
      firstMs = Math.max(firstMs, t.stepMs);
      endAt = Math.max(endAt, t.endAt);
      updateMs = Math.max(updateMs, t.updateMs);
      computeMs = Math.max(computeMs, results[i].computeMs);
    }
    // From the end of the previous step (its last loop) to the end of this one, so the
    // steps tile the run; the first step of a set of loops counts from their start.
    const stepMs = step === this.lastTimed + 1 ? endAt - this.lastEndAt : firstMs;
    this.lastTimed = step;
    this.lastEndAt = endAt;
    // Every loop computed the same norm (--clip-norm); the first one's is read.
    return { stepMs, computeMs, updateMs, gradNorm: readTiming(this.views, 0, step).gradNorm };
  }

  /**
   * Blocks until every shard has finished `step` (returns null) or one loop failed
   * (returns it and the cause). The loops of a step wait for each other, so a shard
   * that fails holds the others: every loop is watched at once, and on --step-timeout
   * the loop blamed is one that has not written its gradient, else (with --clip-norm) one
   * that has not written its slice of the reduced gradient, else one that has not
   * finished its update: the others wait at a barrier for it. The block is a plain Atomics.wait, in slices of at most
   * YIELD_MS, and the event loop runs at least every YIELD_MS, so signals, Piscina's
   * messages (a loop's rejection) and timers are not held up by a long step.
   */
  private async waitStep(step: number, stopRequested: () => StopReason | null, wakeAt: number): Promise<{ shard: number; cause: string } | null> {
    const deadline = performance.now() + this.policy.stepTimeoutMs;
    const n = this.plan.tasks.length;
    for (;;) {
      if (performance.now() - this.lastYield >= YIELD_MS) {
        await this.yieldToEventLoop();
        // A signal stops the run after the step in flight, unless that step hangs.
        const signal = stopRequested();
        if (signal && this.stopSeenAt < 0) this.stopSeenAt = performance.now();
        if (signal && performance.now() - this.stopSeenAt >= STEP_GRACE_MS) throw new StepAbandoned(signal, step);
      }
      let waiting = -1;
      for (let i = 0; i < n; i++) {
        if (this.channel.done(i) >= step + 1) continue;
        const loop = this.loops[i];
        if (this.channel.failed(i) || loop.settled) {
          // The loop ended without finishing the step: its rejection says why (it may
          // still be in flight when the worker's failed flag woke us).
          await loop.promise.catch(() => undefined);
          if (loop.result?.halted === step) return { shard: i, cause: HALTED };
          return { shard: i, cause: loop.error?.message ?? `the step loop ended before step ${step}` };
        }
        if (waiting < 0) waiting = i;
      }
      if (waiting < 0) return null;
      const left = deadline - performance.now();
      if (left <= 0) {
        const all = [...Array(n).keys()];
        const blamed = all.find((i) => this.channel.arrived(i) < step + 1)
          ?? (this.update.clipNorm !== null ? all.find((i) => this.channel.reduced(i) < step + 1) : undefined)
          ?? waiting;
        const loop = this.loops[blamed];
        loop.abort.abort(); // Piscina terminates the thread and starts a fresh one
        await loop.promise.catch(() => undefined);
        return { shard: blamed, cause: `no result within --step-timeout ${this.policy.stepTimeoutMs} ms (thread terminated)` };
      }
      // Asleep until the loops reach `wakeAt` (where they would run out of batches), a
      // failure, or the next yield: not woken at every step, so it takes no core from them.
      this.channel.sleepUntil(Math.max(wakeAt, step + 1), Math.min(left, YIELD_MS - (performance.now() - this.lastYield)));
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
    this.channel.requestStop();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); });
    await Promise.race([Promise.all(this.loops.map((l) => l.promise.catch(() => undefined))), grace]);
    clearTimeout(timer);
    for (const l of this.loops) if (!l.settled) l.abort.abort();
  }
}

/** waitStep's answer when the loop stopped at the step without updating (a non-finite result). */
const HALTED = '\u0000halted';

/** The event loop runs at least this often during training (signals, messages, timers). */
const YIELD_MS = 20;
