// Where a step's time goes, accumulated without allocation on the hot path and
// summarised only when a log line is due. The step loops time themselves (the
// coordinator is asleep while they run, src/engine/step-loops.ts):
//   step:     the slowest loop's step, end of its previous step to end of this one
//   compute:  the slowest shard's gradient with its weights in hand (forward, backward, write)
//   update:   the slowest slice's reduce and update (the update phase)
//   wait:     step - compute - update: the gather, the barriers (imbalance between the
//             shards, thread wake-ups) and anything that took a core from the loops

export const PHASES = ['computeMs', 'updateMs', 'waitMs'] as const;
export type Phase = (typeof PHASES)[number];
/** Phases of logs written before the update ran on the workers: reports still draw them. */
export const LEGACY_PHASES = ['reduceMs', 'dispatchMs', 'adamMs'] as const;
export type LogPhase = Phase | (typeof LEGACY_PHASES)[number];

export class StepStats {
  private readonly stepMs: Float64Array;
  private readonly sums: Record<Phase, number> = { computeMs: 0, updateMs: 0, waitMs: 0 };
  private n = 0;
  private lossSum = 0;
  private totalMs = 0;

  constructor(capacity: number) {
    this.stepMs = new Float64Array(capacity);
  }

  add(stepMs: number, loss: number, computeMs: number, updateMs: number): void {
    if (this.n < this.stepMs.length) this.stepMs[this.n] = stepMs;
    this.n++;
    this.totalMs += stepMs;
    this.lossSum += loss;
    this.sums.computeMs += computeMs;
    this.sums.updateMs += updateMs;
    this.sums.waitMs += Math.max(0, stepMs - computeMs - updateMs);
  }

  get steps(): number {
    return this.n;
  }

  /** Mean loss, throughput, step-time percentiles and the mean of each phase. */
  summary(batchSize: number) {
    // Step times tile each loop (end of step to end of step), so their sum is its wall time.
    const seconds = this.totalMs / 1000;
    const sorted = this.stepMs.slice(0, Math.min(this.n, this.stepMs.length)).sort();
    const pct = (q: number) => (sorted.length ? round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]) : 0);
    const phases = {} as Record<Phase, number>;
    for (const p of PHASES) phases[p] = round(this.sums[p] / Math.max(this.n, 1));
    return {
      loss: this.lossSum / Math.max(this.n, 1),
      seconds: round(seconds),
      samplesPerSec: Math.round((this.n * batchSize) / seconds),
      stepMsMedian: pct(0.5),
      stepMsP90: pct(0.9),
      ...phases,
    };
  }
}

export const round = (x: number): number => Math.round(x * 1000) / 1000;

