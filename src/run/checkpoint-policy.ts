// When a run writes a checkpoint and what goes into it: every --checkpoint-every steps,
// at each epoch end, at the end, when the run is stopped (a signal, an abort) and when a
// shard failed for good. Each holds exactly the weights of the steps completed so far.
import { hold } from '../engine/faults.js';
import type { ModelSpec, ParamLayout } from '../model/layout.js';
import type { OptimizerState } from '../optim/optimizers.js';
import { removeTemps, writeCheckpoint } from '../checkpoint/checkpoint.js';
import type { EarlyStoppingState } from '../checkpoint/checkpoint.js';
import { configJson } from '../settings/config.js';
import type { Logger } from './log.js';
import type { RunPlan } from './plan.js';
import type { Schedule } from './schedule.js';
import { epochShuffleState } from './schedule.js';
import { round } from '../metrics/step-stats.js';

/** What a checkpoint copies: the shared buffers of a step count, read synchronously while no step writes them. */
export interface CheckpointSource {
  /** The weights and the optimiser's state after `steps` steps (their slot, steps % 2). */
  stateAt: (steps: number) => { weights: Float32Array; optimizer: OptimizerState };
  layout: ParamLayout;
  model: ModelSpec;
  topology: object | null;
  /** Early stopping's state after the last epoch's end; null without early stopping. */
  earlyStopping: () => EarlyStoppingState | null;
}

export class CheckpointPolicy {
  private readonly dir: string | null;
  private readonly every: number | null;
  private readonly schedule: Schedule;

  constructor(
    private readonly plan: RunPlan, private readonly state: CheckpointSource, private readonly log: Logger,
    /** The weights version of the schedule's first step (a resumed checkpoint's). */
    private readonly firstVersion = 0,
  ) {
    ({ dir: this.dir, every: this.every } = plan.checkpoints);
    this.schedule = plan.schedule;
    // A crash (or a full disk) can leave `.tmp-*` in the checkpoint directory: never
    // valid, and on a full disk the space the next checkpoint needs.
    const removed = this.dir ? removeTemps(this.dir) : [];
    if (removed.length > 0) log.warn({ event: 'checkpoint_temps_removed', dir: this.dir, removed }, 'checkpoint_temps_removed');
  }

  /**
   * The step count after `completed` at which the next checkpoint is due (every
   * --checkpoint-every steps, each epoch's end, the end); Infinity without a directory.
   * The step loops are never let past it before it is written (src/run/coordinator.ts).
   */
  next(completed: number): number {
    if (!this.dir) return Infinity;
    const { stepsPerEpoch, totalSteps } = this.schedule;
    const { every } = this;
    const epochEnd = (Math.floor(completed / stepsPerEpoch) + 1) * stepsPerEpoch;
    const byEvery = every ? (Math.floor(completed / every) + 1) * every : Infinity;
    return Math.min(epochEnd, byEvery, totalSteps);
  }

  /** Why a checkpoint is due after `completed` steps (null: none is). */
  due(completed: number, epochDone: boolean): 'end' | 'epoch_end' | 'every' | null {
    if (epochDone) return completed === this.schedule.totalSteps ? 'end' : 'epoch_end';
    const { every } = this;
    return every && completed % every === 0 ? 'every' : null;
  }

  /**
   * On the way out of a failure (a shard that failed for good, a log that cannot be
   * written): keep what was learned if the directory still takes it. A failure of this
   * checkpoint is logged, not thrown, so the run fails with its real cause.
   */
  trySave(completed: number, reason: string): void {
    try {
      this.save(completed, reason);
    } catch (err) {
      this.log.error({ event: 'checkpoint_failed', reason, step: completed, err }, 'checkpoint_failed');
    }
  }

  /** Everything needed to continue exactly after `completed` steps. */
  save(completed: number, reason: string): void {
    if (!this.dir) return;
    hold('checkpointing');
    const t = performance.now();
    const epoch = this.schedule.epochOf(completed);
    const { stateAt, earlyStopping, ...model } = this.state;
    // The weights version counts steps, as it did when the coordinator published them.
    const name = writeCheckpoint(this.dir, {
      step: completed, epoch, stepInEpoch: completed % this.schedule.stepsPerEpoch, weightsVersion: this.firstVersion + (completed - this.schedule.firstStep),
      rngState: epochShuffleState(this.plan.config.seed, epoch), config: configJson(this.plan.config), ...model, ...stateAt(completed),
      earlyStopping: earlyStopping(), ...(this.plan.dataFromArrays ? { dataFromArrays: true } : {}),
    }, this.plan.checkpoints.keep);
    this.log.info({ event: 'checkpoint', reason, step: completed, dir: this.dir, checkpoint: name, ms: round(performance.now() - t) }, 'checkpoint');
  }
}
