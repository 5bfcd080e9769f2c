// Which steps a run takes: floor(rows / batch) steps an epoch (the remainder is dropped,
// as in the seed), epochs x that in all (or fewer with maxSteps), from the first step
// (0, or where a checkpoint left off); and each epoch's seeded order of the rows.
import { Rng } from '../data/rng.js';

export interface Schedule {
  stepsPerEpoch: number;
  totalSteps: number;
  firstStep: number;
  /** Steps below this are JIT warm-up, left out of the run's overall statistics. */
  warmupUntil: number;
  epochOf(step: number): number;
  /** Step `step` (0-based) is its epoch's last (or the run's last). */
  endsEpoch(step: number): boolean;
}

export function scheduleOf(numTrain: number, batchSize: number, epochs: number, firstStep: number, maxSteps = Infinity, warmupSteps = 0): Schedule {
  const stepsPerEpoch = Math.floor(numTrain / batchSize);
  const totalSteps = Math.min(stepsPerEpoch * epochs, maxSteps);
  return {
    stepsPerEpoch, totalSteps, firstStep,
    warmupUntil: firstStep + Math.min(warmupSteps, Math.max(0, totalSteps - firstStep - 1)),
    epochOf: (step) => Math.floor(step / stepsPerEpoch),
    endsEpoch: (step) => (step + 1) % stepsPerEpoch === 0 || step + 1 === totalSteps,
  };
}

/**
 * The epoch's order of the training rows: the identity shuffled by an RNG seeded from
 * (seed, epoch) alone, so a resumed run can rebuild any epoch's order from its number.
 */
export function shuffleForEpoch(seed: number, epoch: number, perm: Int32Array): number {
  const state = epochShuffleState(seed, epoch);
  for (let i = 0; i < perm.length; i++) perm[i] = i;
  new Rng(state).shuffle(perm);
  return state;
}

export function epochShuffleState(seed: number, epoch: number): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(epoch + 1, 0x85ebca6b)) >>> 0;
}

/** Each step's batch indices, cut from its epoch's seeded order (shuffled once per epoch). */
export class BatchOrder {
  private readonly perm: Int32Array;
  private permEpoch = -1;

  constructor(private readonly seed: number, numTrain: number, private readonly batchSize: number, private readonly schedule: Schedule) {
    this.perm = new Int32Array(numTrain);
  }

  /** Step `step`'s indices into `out`. */
  fill(step: number, out: Int32Array): void {
    const epoch = this.schedule.epochOf(step);
    if (epoch !== this.permEpoch) shuffleForEpoch(this.seed, (this.permEpoch = epoch), this.perm);
    const s = step % this.schedule.stepsPerEpoch;
    out.set(this.perm.subarray(s * this.batchSize, (s + 1) * this.batchSize));
  }
}
