// Where a step's time goes, accumulated without allocation on the hot path and
// summarised only when a log line is due.
//   compute:  the slowest shard's time with its weights in hand (forward, backward, write)
//   wait:     from publishing the weights to holding every result, minus compute
//             (thread wake-up, messages, imbalance, any gather not hidden behind Adam)
//   reduce:   summing the slabs; dispatch: publishing the batch after next;
//   adam:     the optimizer update; step: publish to publish, wall clock.

export const PHASES = ['computeMs', 'waitMs', 'reduceMs', 'dispatchMs', 'adamMs'] as const;
export type Phase = (typeof PHASES)[number];

export class StepStats {
  private readonly stepMs: Float64Array;
  private readonly sums: Record<Phase, number> = { computeMs: 0, waitMs: 0, reduceMs: 0, dispatchMs: 0, adamMs: 0 };
  private n = 0;
  private lossSum = 0;
  private totalMs = 0;

  constructor(capacity: number) {
    this.stepMs = new Float64Array(capacity);
  }

  add(stepMs: number, loss: number, computeMs: number, waitMs: number, reduceMs: number, dispatchMs: number, adamMs: number): void {
    if (this.n < this.stepMs.length) this.stepMs[this.n] = stepMs;
    this.n++;
    this.totalMs += stepMs;
    this.lossSum += loss;
    this.sums.computeMs += computeMs;
    this.sums.waitMs += waitMs;
    this.sums.reduceMs += reduceMs;
    this.sums.dispatchMs += dispatchMs;
    this.sums.adamMs += adamMs;
  }

  get steps(): number {
    return this.n;
  }

  /** Mean loss, throughput, step-time percentiles and the mean of each phase. */
  summary(batchSize: number) {
    // Step times tile the loop (publish to publish), so their sum is its wall time.
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

/**
 * The timestamps of one step's phases, from the previous publish of the weights to
 * this one (steps tile the loop, so their sum is its wall time). One per run, reused:
 * no allocation per step.
 */
export class StepClock {
  private publishedAt = performance.now();
  private resultsAt = 0;
  private reducedAt = 0;
  private dispatchedAt = 0;
  /** performance.now() when the first step's weights went out: from process start, what a user waits. */
  firstStepAt = 0;

  results(): void {
    this.resultsAt = performance.now();
  }

  reduced(): void {
    this.reducedAt = performance.now();
  }

  dispatched(): void {
    this.dispatchedAt = performance.now();
  }

  /** The step is over (its weights are published): adds it to each of the statistics (no array per step). */
  published(loss: number, computeMs: number, a: StepStats, b: StepStats, c: StepStats | null): void {
    const now = performance.now();
    if (this.firstStepAt === 0) this.firstStepAt = now;
    const stepMs = now - this.publishedAt;
    const waitMs = this.resultsAt - this.publishedAt - computeMs;
    const reduceMs = this.reducedAt - this.resultsAt;
    const dispatchMs = this.dispatchedAt - this.reducedAt;
    const adamMs = now - this.dispatchedAt;
    a.add(stepMs, loss, computeMs, waitMs, reduceMs, dispatchMs, adamMs);
    b.add(stepMs, loss, computeMs, waitMs, reduceMs, dispatchMs, adamMs);
    c?.add(stepMs, loss, computeMs, waitMs, reduceMs, dispatchMs, adamMs);
    this.publishedAt = now;
  }
}
