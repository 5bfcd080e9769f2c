// Keras' EarlyStopping: after every epoch, the watched figure either improves on the best
// so far by more than min_delta, or the run waits; after `patience` epochs of waiting the
// run stops at that epoch's end, ending with the best epoch's weights when asked.
import type { EarlyStoppingState } from '../checkpoint/checkpoint.js';
import type { EarlyStoppingPlan } from './plan.js';
import type { EpochSummary } from './run-log.js';

export class EarlyStopping {
  private best: number;
  private bestEpoch = -1;
  private wait = 0;
  private bestWeights: Float32Array | null = null;

  /** `from`: a resumed checkpoint's state, taken when it watched the same figure (and kept the weights this run would restore). */
  constructor(private readonly plan: EarlyStoppingPlan, from?: EarlyStoppingState | null) {
    this.best = plan.mode === 'min' ? Infinity : -Infinity;
    if (from && from.monitor === plan.monitor && (from.bestWeights || !plan.restoreBestWeights || from.best === null)) {
      if (from.best !== null) this.best = from.best;
      this.bestEpoch = from.bestEpoch;
      this.wait = from.wait;
      this.bestWeights = plan.restoreBestWeights ? from.bestWeights : null;
    }
  }

  /** Its state, for a checkpoint. */
  state(): EarlyStoppingState {
    return { monitor: this.plan.monitor, best: Number.isFinite(this.best) ? this.best : null, bestEpoch: this.bestEpoch, wait: this.wait, bestWeights: this.bestWeights };
  }

  /**
   * Epoch `epoch` ended with `figures` (its loss and validation figures) and `weights`.
   * Returns true when the run should stop here.
   */
  epochEnd(epoch: number, figures: EpochSummary, weights: Float32Array): boolean {
    const { monitor, mode, minDelta, patience } = this.plan;
    const value = (figures as unknown as Record<string, number>)[monitor]; // loss or val_*: checked at start-up
    const improved = mode === 'min' ? value < this.best - minDelta : value > this.best + minDelta;
    if (improved) {
      this.best = value;
      this.bestEpoch = epoch;
      this.wait = 0;
      if (this.plan.restoreBestWeights) this.bestWeights = weights.slice();
      return false;
    }
    this.wait++;
    return this.wait >= patience;
  }

  /** The best epoch's weights into `weights` when the plan restores them; returns whether it did. */
  restore(weights: Float32Array): boolean {
    if (!this.bestWeights) return false;
    weights.set(this.bestWeights);
    return true;
  }

  /** What the early_stop event tells. */
  summary() {
    return { monitor: this.plan.monitor, best: this.best, bestEpoch: this.bestEpoch, patience: this.plan.patience };
  }
}
