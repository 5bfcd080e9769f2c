// The step's protocol over shared memory: the control words, what the coordinator
// writes and waits for, and what a worker's step loop writes and waits for, side by
// side. The only module that calls Atomics.
//
//   word            written by           meaning
//   --------------  -------------------  ---------------------------------------------------
//   weightsVersion  coordinator          `weights` holds the weights of this version
//   batchStep       coordinator          the batches of every step below it are published;
//                                        step s's indices are in slot s % 2 (batchSlot), so
//                                        step s+2's go out while shards read step s+1's
//   stop            coordinator          1 = step loops return at their next wait
//   done(i)         shard i's loop       it has finished step done - 1, its result written
//   failed(i)       shard i's loop       1 = it threw; the coordinator learns why from Piscina
//
// One step, as the words move:  coordinator publishBatch(s) ... worker waitBatch(s),
// gathers its rows, waitWeights(version), computes, writes its result, markDone(s) ...
// coordinator waitDone(i, s) for every shard, reduces, Adam, publishWeights(version + 1).

const WEIGHTS_VERSION = 0;
const BATCH_STEP = 1;
const STOP = 2;
const doneSlot = (shard: number): number => 3 + 2 * shard;
const failedSlot = (shard: number): number => 4 + 2 * shard;

/** Int32 words the control region needs for `numShards` shards. */
export const controlWords = (numShards: number): number => 3 + 2 * numShards;

/** Blocks this thread for `ms` (no spinning): test-only holds and the injected hang. */
export function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// ---- the coordinator's half -------------------------------------------------------------

export class CoordinatorChannel {
  constructor(private readonly control: Int32Array, private readonly numShards: number) {}

  /** Before a new set of step loops starts: nothing published, nothing done, no stop. */
  reset(): void {
    Atomics.store(this.control, BATCH_STEP, 0);
    Atomics.store(this.control, STOP, 0);
    for (let i = 0; i < this.numShards; i++) {
      Atomics.store(this.control, doneSlot(i), 0);
      Atomics.store(this.control, failedSlot(i), 0);
    }
  }

  weightsVersion(): number {
    return Atomics.load(this.control, WEIGHTS_VERSION);
  }

  /** The weights in shared memory are now those of `version` (written before this call). */
  publishWeights(version: number): void {
    Atomics.store(this.control, WEIGHTS_VERSION, version);
    Atomics.notify(this.control, WEIGHTS_VERSION);
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
    Atomics.notify(this.control, WEIGHTS_VERSION);
  }

  /** How many steps shard `shard` has finished (the step it finished last, plus one). */
  done(shard: number): number {
    return Atomics.load(this.control, doneSlot(shard));
  }

  failed(shard: number): boolean {
    return Atomics.load(this.control, failedSlot(shard)) !== 0;
  }

  /** Sleeps until shard `shard`'s done word leaves `seen` (or it fails), at most `ms`. */
  waitDone(shard: number, seen: number, ms: number): void {
    Atomics.wait(this.control, doneSlot(shard), seen, ms);
  }
}

// ---- a worker's half ---------------------------------------------------------------------

/** How often a waiting loop looks at the stop word at the latest. */
const STOP_SLICE_MS = 50;

/** The coordinator set `stop` while a loop waited: the loop ends quietly. */
export class Stopped extends Error {}

export class WorkerChannel {
  constructor(private readonly control: Int32Array, private readonly timeoutMs: number) {}

  /** Waits until step `step`'s batch is published; throws if its slot was already reused. */
  waitBatch(step: number): void {
    this.waitFor(BATCH_STEP, step + 1, step + 2, `the batch of step ${step}`);
  }

  /** Waits until the weights of `version` are published; throws if a later version replaced them. */
  waitWeights(version: number): void {
    this.waitFor(WEIGHTS_VERSION, version, version, `weights version ${version}`);
  }

  /** This shard's result for `step` is written. */
  markDone(shard: number, step: number): void {
    Atomics.store(this.control, doneSlot(shard), step + 1);
    Atomics.notify(this.control, doneSlot(shard));
  }

  /** Wakes the coordinator now rather than at its next time-out; the error reaches it as the task's rejection. */
  markFailed(shard: number): void {
    Atomics.store(this.control, failedSlot(shard), 1);
    Atomics.notify(this.control, doneSlot(shard));
  }

  /**
   * Blocks (Atomics.wait: no spinning) until word `slot` is at least `min`; throws if it
   * is already past `max` (what the task waits for was replaced before it was read), if
   * nothing comes within the time-out (the coordinator died), or Stopped.
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
