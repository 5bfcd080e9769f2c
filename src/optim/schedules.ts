// Learning-rate schedules, per step, as Keras' `keras.optimizers.schedules` define them:
// constant, ExponentialDecay, PiecewiseConstantDecay and CosineDecay, each after an
// optional linear warm-up. A pure function of the global step (counted from 0 over the
// whole run, a resumed one included), so every worker computes the same rate for a step
// and a resume continues the schedule exactly.

export const LR_SCHEDULES = ['constant', 'exponential', 'piecewise', 'cosine'] as const;
export type LrScheduleName = typeof LR_SCHEDULES[number];

export interface LrSchedule {
  schedule: LrScheduleName;
  /** The rate the schedule starts from (--lr): constant's, exponential's and cosine's initial_learning_rate. */
  lr: number;
  /** exponential: lr decayRate^(step / decaySteps); cosine: the steps over which it decays to alpha lr. */
  decaySteps: number;
  decayRate: number;
  /** exponential: decay in whole intervals (floor(step / decaySteps)). */
  staircase: boolean;
  /** piecewise: values[0] up to step boundaries[0], values[i] up to boundaries[i], the last one after. */
  boundaries: readonly number[];
  values: readonly number[];
  /** cosine: the fraction of lr it ends at. */
  alpha: number;
  /** Before the schedule: step k < warmupSteps runs at (k + 1) / warmupSteps of the schedule's first rate; the schedule then starts at its own step 0. */
  warmupSteps: number;
}

/** The learning rate of global step `step` (0 for the first step of a run). */
export function learningRateAt(s: LrSchedule, step: number): number {
  if (step < s.warmupSteps) return decayed(s, 0) * ((step + 1) / s.warmupSteps);
  return decayed(s, step - s.warmupSteps);
}

function decayed(s: LrSchedule, step: number): number {
  switch (s.schedule) {
    case 'constant': return s.lr;
    case 'exponential': {
      const p = step / s.decaySteps;
      return s.lr * Math.pow(s.decayRate, s.staircase ? Math.floor(p) : p);
    }
    case 'piecewise': {
      // Keras' PiecewiseConstantDecay: values[i] while step <= boundaries[i].
      const i = s.boundaries.findIndex((b) => step <= b);
      return s.values[i === -1 ? s.values.length - 1 : i];
    }
    case 'cosine': {
      const done = Math.min(step, s.decaySteps) / s.decaySteps;
      return s.lr * ((1 - s.alpha) * 0.5 * (1 + Math.cos(Math.PI * done)) + s.alpha);
    }
  }
}
