// What a run tells while it trains: `progress` events every --progress-every steps,
// `epoch_end` after each epoch, the live line on a terminal, and the library's
// onBatchEnd / onEpochEnd callbacks. Log objects are built only when a line is due.
import { collectGarbage } from '../engine/faults.js';
import type { ProgressLine } from './progress-line.js';
import { learningRateAt } from '../optim/schedules.js';
import type { LrSchedule } from '../optim/schedules.js';
import type { ShardResult } from '../engine/shared-memory.js';
import type { Logger } from './log.js';
import type { Schedule } from './schedule.js';
import { round, StepStats } from '../metrics/step-stats.js';

/** Mean loss, throughput, step-time percentiles and phase means of some steps. */
export type StepSummary = ReturnType<StepStats['summary']>;
/** An epoch's validation figures, named as tfjs-layers names them: val_loss, val_<metric>. */
export type Validation = { [name: `val_${string}`]: number };
export type EpochSummary = StepSummary & { epoch: number } & Validation;

/** The library's per-step and per-epoch hooks (src/index.ts); a throw stops the run. */
export interface StepCallbacks {
  /** After every step: `step` counts completed steps (1-based, global). */
  onBatchEnd?: (step: number, logs: { loss: number; epoch: number }) => void;
  /** After every epoch: its loss, seconds, samplesPerSec, step-time percentiles and phase means. */
  onEpochEnd?: (epoch: number, logs: StepSummary & Validation) => void;
}

/** Where one step's time went (StepLoops.timing). */
export interface StepTimes {
  stepMs: number;
  computeMs: number;
  updateMs: number;
  /** The reduced gradient's global norm (with --clip-norm; NaN without). */
  gradNorm: number;
}

export class RunLog {
  /** performance.now() when the coordinator saw the first step done: from process start, what a user waits. */
  private firstStepAt = 0;
  /** Every step after the warm-up (for the scaling scripts). */
  readonly overall: StepStats;
  readonly epochs: EpochSummary[] = [];
  private epoch: StepStats;
  private window: StepStats;
  /** The progress window's gradient norms (--clip-norm). */
  private norms = { sum: 0, clipped: 0, steps: 0 };

  constructor(
    private readonly log: Logger,
    private readonly schedule: Schedule,
    private readonly batchSize: number,
    private readonly progressEvery: number,
    private readonly callbacks: StepCallbacks,
    private readonly line: ProgressLine | null,
    /** The learning rate's schedule: each progress event tells the rate of its last step. */
    private readonly lrSchedule: LrSchedule,
    /** --clip-norm: each progress event tells the window's mean gradient norm and the share of its steps clipped. */
    private readonly clipNorm: number | null,
  ) {
    this.overall = new StepStats(Math.max(1, schedule.totalSteps - schedule.warmupUntil));
    this.epoch = new StepStats(schedule.stepsPerEpoch);
    this.window = new StepStats(progressEvery);
  }

  /**
   * Step `step` (0-based) is done: its loss and times go into the statistics,
   * and the events that are due are written. Returns true at the end of an epoch.
   */
  stepDone(step: number, loss: number, t: StepTimes, results: readonly ShardResult[], validation: Validation = {}): boolean {
    if (this.firstStepAt === 0) this.firstStepAt = performance.now();
    this.epoch.add(t.stepMs, loss, t.computeMs, t.updateMs);
    this.window.add(t.stepMs, loss, t.computeMs, t.updateMs);
    if (this.clipNorm !== null) {
      this.norms.sum += t.gradNorm;
      this.norms.clipped += t.gradNorm > this.clipNorm ? 1 : 0;
      this.norms.steps++;
    }
    if (step >= this.schedule.warmupUntil) this.overall.add(t.stepMs, loss, t.computeMs, t.updateMs);
    const completed = step + 1;
    const epoch = this.schedule.epochOf(step);
    this.line?.update(completed, loss);
    this.callbacks.onBatchEnd?.(completed, { loss, epoch });
    if (completed % this.progressEvery === 0) {
      const clip = this.clipNorm === null ? {} : { gradNorm: Number((this.norms.sum / this.norms.steps).toPrecision(4)), clipped: round(this.norms.clipped / this.norms.steps) };
      this.log.info({ event: 'progress', epoch, step: completed, lr: learningRateAt(this.lrSchedule, step), ...clip, ...this.window.summary(this.batchSize) }, 'progress');
      this.window = new StepStats(this.progressEvery);
      this.norms = { sum: 0, clipped: 0, steps: 0 };
    }
    if (!this.schedule.endsEpoch(step)) return false;
    const e = { ...this.epoch.summary(this.batchSize), ...validation };
    this.epochs.push({ epoch, ...e });
    const first = epoch === this.schedule.epochOf(this.schedule.firstStep) ? { timeToFirstStepMs: round(this.firstStepAt) } : {};
    // Memory and tensor counts, for soak runs: both must stay flat epoch after epoch.
    collectGarbage(); // only when a soak run asks (TRAINER_GC_STEPS)
    const memory = {
      rssMB: round(process.memoryUsage().rss / 2 ** 20), workerTensors: results.map((r) => r.numTensors),
      workerHeapMB: results.map((r) => round(r.heapMB)), workerWasmMB: results.map((r) => round(r.wasmMB)),
    };
    this.log.info({ event: 'epoch_end', epoch, steps: this.epoch.steps, ...e, ...memory, ...first }, 'epoch_end');
    this.callbacks.onEpochEnd?.(epoch, e);
    this.epoch = new StepStats(this.schedule.stepsPerEpoch);
    return true;
  }

  /** A one-off event of the run (early_stop), at info level. */
  note(fields: { event: string } & Record<string, unknown>): void {
    this.log.info(fields, fields.event);
  }

  done(): void {
    this.line?.done();
  }
}
