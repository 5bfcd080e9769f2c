// The step's protocol over shared memory: the control words, what the coordinator
// writes and waits for, and what a worker's step loop writes and waits for, side by
// side. The only module that calls Atomics.
//
//   word            written by           meaning
//   --------------  -------------------  ---------------------------------------------------
//   batchStep       coordinator          the batches of every step below it are published;
//                                        step s's indices are in slot s % RING (batchSlot)
//   stop            coordinator          1 = step loops return at their next wait
//   wakeAt          coordinator          a loop that finishes step wakeAt - 1 or later wakes it
//   wake            shard i's loop       counts those wake-ups (the word the coordinator sleeps on)
//   arrived(i)      shard i's loop       its gradient (and result record) of step arrived - 1 is written
//   done(i)         shard i's loop       it has finished step done - 1: its slice of the weights updated
//   reduced(i)      shard i's loop       its slice of step reduced - 1's reduced gradient is written
//                                        (with --clip-norm: the global norm needs every slice)
//   failed(i)       shard i's loop       1 = it threw; the coordinator learns why from Piscina
//
// One step s, as the words move (the coordinator is not in it: it publishes batches
// ahead and reads done words behind, asleep in between; a loop wakes it only at the step
// it asked for, where the loops would run out of published batches, or on a failure):
//   worker i: waitBatch(s), gathers its rows, waitWeights(s) (every done >= s: the
//   weights after s steps are whole), computes its gradient, arrive(s), waitArrived(s)
//   (every arrived >= s + 1: every gradient is written), reduces and updates its slice
//   of the parameters, markDone(s). With --clip-norm the update has a barrier of its own:
//   it reduces its slice, markReduced(s), waitReduced(s) (the whole reduced gradient is
//   written, for its norm), then updates its slice.
// A loop that stops or fails before arriving holds every other loop at waitArrived(s),
// so no slice is updated from a partial gradient; a loop restarted at step s recomputes
// its gradient from the weights after s steps, which step s never writes (two slots).

/**
 * Steps whose batches and results are in shared memory at once: the workers run up to
 * RING - 1 steps ahead of the coordinator, which reads results and publishes batches
 * behind them (src/run/coordinator.ts). The coordinator wakes every 20 ms (YIELD_MS in
 * step-loops.ts), so RING steps must last longer than that for the loops never to wait
 * for it: 64 steps of the seed MLP at batch 128 take ~70-200 ms here. With 8, a step of
 * 2.5 ms left the loops 20 ms to run dry.
 */
export const RING = 64;

const BATCH_STEP = 0;
const STOP = 1;
const WAKE_AT = 2;
const WAKE = 3;
const arrivedSlot = (shard: number): number => 4 + 4 * shard;
const doneSlot = (shard: number): number => 5 + 4 * shard;
const failedSlot = (shard: number): number => 6 + 4 * shard;
const reducedSlot = (shard: number): number => 7 + 4 * shard;

/** Int32 words the control region needs for `numShards` shards. */
export const controlWords = (numShards: number): number => 4 + 4 * numShards;

/** Blocks this thread for `ms` (no spinning): test-only holds and the injected hang. */
export function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// ---- the coordinator's half -------------------------------------------------------------

export class CoordinatorChannel {
  constructor(private readonly control: Int32Array, private readonly numShards: number) {}

  /** Before a new set of step loops starts at `firstStep`: the steps before it done, nothing published, no stop. */
  reset(firstStep: number): void {
    Atomics.store(this.control, BATCH_STEP, firstStep);
    Atomics.store(this.control, STOP, 0);
    Atomics.store(this.control, WAKE_AT, firstStep + 1);
    for (let i = 0; i < this.numShards; i++) {
      Atomics.store(this.control, arrivedSlot(i), firstStep);
      Atomics.store(this.control, doneSlot(i), firstStep);
      Atomics.store(this.control, reducedSlot(i), firstStep);
      Atomics.store(this.control, failedSlot(i), 0);
    }
  }

  /** Step `step`'s batch is in its slot (batchSlot). */
  publishBatch(step: number): void {
    Atomics.store(this.control, BATCH_STEP, step + 1);
    Atomics.notify(this.control, BATCH_STEP);
  }

  /** Shard `shard` is (re)started: its failed flag is cleared. */
  clearFailed(shard: number): void {
    Atomics.store(this.control, failedSlot(shard), 0);
  }

  /** Every loop returns at its next wait. */
  requestStop(): void {
    Atomics.store(this.control, STOP, 1);
    Atomics.notify(this.control, BATCH_STEP);
    for (let i = 0; i < this.numShards; i++) {
      Atomics.notify(this.control, arrivedSlot(i));
      Atomics.notify(this.control, doneSlot(i));
      Atomics.notify(this.control, reducedSlot(i));
    }
  }

  /** How many steps shard `shard` has finished (the step it finished last, plus one). */
  done(shard: number): number {
    return Atomics.load(this.control, doneSlot(shard));
  }

  /** How many steps shard `shard` has written the gradient of. */
  arrived(shard: number): number {
    return Atomics.load(this.control, arrivedSlot(shard));
  }

  /** How many steps shard `shard` has written its slice of the reduced gradient of (with --clip-norm). */
  reduced(shard: number): number {
    return Atomics.load(this.control, reducedSlot(shard));
  }

  /** Steps every shard has finished: the weights after them are whole, in slot `completed() % 2`. */
  completed(): number {
    let min = Infinity;
    for (let i = 0; i < this.numShards; i++) min = Math.min(min, this.done(i));
    return min;
  }

  failed(shard: number): boolean {
    return Atomics.load(this.control, failedSlot(shard)) !== 0;
  }

  /**
   * Sleeps at most `ms`, or until a loop finishes step `steps - 1` or later, or fails.
   * The coordinator stores wakeAt before it reads the done words again and a loop stores
   * its done word before it reads wakeAt (sequentially consistent atomics), so a step
   * that completes during this call is never missed: either the check sees it, or the
   * loop sees wakeAt and bumps `wake` (then Atomics.wait returns at once).
   */
  sleepUntil(steps: number, ms: number): void {
    const seen = Atomics.load(this.control, WAKE);
    Atomics.store(this.control, WAKE_AT, steps);
    if (this.completed() >= steps) return;
    for (let i = 0; i < this.numShards; i++) if (this.failed(i)) return;
    Atomics.wait(this.control, WAKE, seen, ms);
  }
}

// ---- a worker's half ---------------------------------------------------------------------

/** How often a waiting loop looks at the stop word at the latest. */
const STOP_SLICE_MS = 50;

/** The coordinator set `stop` while a loop waited: the loop ends quietly. */
export class Stopped extends Error {}

export class WorkerChannel {
  constructor(private readonly control: Int32Array, private readonly numShards: number, private readonly timeoutMs: number) {}

  /** Waits until step `step`'s batch is published; throws if its slot was already reused. */
  waitBatch(step: number): void {
    this.waitFor(BATCH_STEP, step + 1, step + RING, `the batch of step ${step}`);
  }

  /** Waits until every shard has finished step `step - 1`: the weights after `step` steps are whole. */
  waitWeights(step: number): void {
    for (let i = 0; i < this.numShards; i++) this.waitFor(doneSlot(i), step, Infinity, `shard ${i}'s update of step ${step - 1}`);
  }

  /** This shard's gradient and result record of `step` are written. */
  arrive(shard: number, step: number): void {
    Atomics.store(this.control, arrivedSlot(shard), step + 1);
    Atomics.notify(this.control, arrivedSlot(shard));
  }

  /** Waits until every shard's gradient of `step` is written. */
  waitArrived(step: number): void {
    for (let i = 0; i < this.numShards; i++) this.waitFor(arrivedSlot(i), step + 1, Infinity, `shard ${i}'s gradient of step ${step}`);
  }

  /** This shard's slice of step `step`'s reduced gradient is written. */
  markReduced(shard: number, step: number): void {
    Atomics.store(this.control, reducedSlot(shard), step + 1);
    Atomics.notify(this.control, reducedSlot(shard));
  }

  /** Waits until every shard's slice of step `step`'s reduced gradient is written: the whole gradient is. */
  waitReduced(step: number): void {
    for (let i = 0; i < this.numShards; i++) this.waitFor(reducedSlot(i), step + 1, Infinity, `shard ${i}'s reduced gradient of step ${step}`);
  }

  /** Step `step`'s batch is published (without waiting). */
  published(step: number): boolean {
    return Atomics.load(this.control, BATCH_STEP) >= step + 1;
  }

  /** This shard's gradient of `step` is written already (a loop restarted after it arrived). */
  hasArrived(shard: number, step: number): boolean {
    return Atomics.load(this.control, arrivedSlot(shard)) >= step + 1;
  }

  /** Every shard's gradient of `step` is written already. */
  allArrived(step: number): boolean {
    for (let i = 0; i < this.numShards; i++) if (Atomics.load(this.control, arrivedSlot(i)) < step + 1) return false;
    return true;
  }

  /** This shard's slice of the weights after `step + 1` steps is written; the coordinator is woken only if it asked for this step. */
  markDone(shard: number, step: number): void {
    Atomics.store(this.control, doneSlot(shard), step + 1);
    Atomics.notify(this.control, doneSlot(shard));
    if (step + 1 >= Atomics.load(this.control, WAKE_AT)) this.wakeCoordinator();
  }

  /** Wakes the coordinator now rather than at its next time-out; the error reaches it as the task's rejection. */
  markFailed(shard: number): void {
    Atomics.store(this.control, failedSlot(shard), 1);
    this.wakeCoordinator();
  }

  private wakeCoordinator(): void {
    Atomics.add(this.control, WAKE, 1);
    Atomics.notify(this.control, WAKE);
  }

  /**
   * Blocks (Atomics.wait: no spinning) until word `slot` is at least `min`; throws if it
   * is already past `max` (what the task waits for was replaced before it was read), if
   * nothing comes within the time-out (the coordinator died), or Stopped. Spinning first
   * (0.05, 0.15 and 0.5 ms) changed nothing measurable: the seed's warm epoch at 2
   * workers took 0.578-0.583 s (medians of 6 alternated runs) with and without it; what
   * a loop waits for at a barrier is its peer's lead, not the wake-up.
   */
  private waitFor(slot: number, min: number, max: number, what: string): void {
    const deadline = performance.now() + this.timeoutMs;
    for (;;) {
      if (Atomics.load(this.control, STOP) !== 0) throw new Stopped('stopped');
      const v = Atomics.load(this.control, slot);
      if (v > max) throw new Error(`${what} was replaced before this task read it (control value ${v}, at most ${max} expected)`);
      if (v >= min) return;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`${what} was not published within ${this.timeoutMs} ms`);
      // In slices: a stop stored between the check above and this wait notifies a word
      // this thread is not yet waiting on, so it is seen at the next slice instead.
      Atomics.wait(this.control, slot, v, Math.min(left, STOP_SLICE_MS));
    }
  }
}
