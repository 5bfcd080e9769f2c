// The optimisers a Keras or TF.js user reaches for, as update rules over Float32Array
// slices: tf.train's sgd, momentum (and Nesterov), rmsprop (and centered), adam, adamax
// and adagrad, each the formula of its tfjs-core class, plus AdamW (Loshchilov & Hutter's
// decoupled weight decay, as Keras and PyTorch apply it). Centered rmsprop follows
// TensorFlow rather than tfjs-core, whose formula gives NaN (see below). Each rule is
// elementwise: a worker applies it to its slice of the parameters and the result is the
// bytes of the whole vector updated in one thread (test/unit/optimizers.test.ts).
// Computed in float64 and stored in float32 once per value, where tf.train rounds every
// op to float32 (but momentum: below).

export const OPTIMIZERS = ['sgd', 'momentum', 'rmsprop', 'adam', 'adamax', 'adagrad', 'adamw'] as const;
export type OptimizerName = typeof OPTIMIZERS[number];

/** An optimiser and its settings, named as tf.train names them (weightDecay: Keras' AdamW). */
export interface OptimizerConfig {
  optimizer: OptimizerName;
  /** The learning rate of this step (a schedule's value, src/optim/schedules.ts). */
  lr: number;
  /** adam, adamax, adamw. */
  beta1: number;
  beta2: number;
  /** adam, adamax, adamw, rmsprop (adagrad uses tf.train's fixed 1e-7, the backend's epsilon). */
  eps: number;
  /** momentum (tf.train.momentum's `momentum`), rmsprop. */
  momentum: number;
  /** momentum: Nesterov's update (tf.train.momentum's `useNesterov`). */
  useNesterov: boolean;
  /** rmsprop: the discount of the mean square (tf.train.rmsprop's `decay`, Keras' `rho`). */
  decay: number;
  /** rmsprop: divide by the gradient's estimated variance, not its second moment. */
  centered: boolean;
  /** adagrad: the accumulator's first value. */
  initialAccumulatorValue: number;
  /** adamw: the decoupled weight decay, times the learning rate each step. */
  weightDecay: number;
}

/** tf.train.adam's settings (and Keras'), the trainer's default optimiser. */
export const DEFAULT_OPTIMIZER: OptimizerConfig = {
  optimizer: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-7,
  momentum: 0, useNesterov: false, decay: 0.9, centered: false, initialAccumulatorValue: 0.1, weightDecay: 0.004,
};

/** The optimiser's state after `t` steps: its state vectors (stateNames' order). */
export interface OptimizerState {
  /** Steps applied so far; the next step is t + 1. */
  t: number;
  state: Float32Array[];
}

/** A fresh state of `numParams` parameters. */
export function newOptimizerState(o: Pick<OptimizerConfig, 'optimizer' | 'centered' | 'initialAccumulatorValue'>, numParams: number): OptimizerState {
  const state = stateNames(o).map(() => new Float32Array(numParams));
  initState(o, state);
  return { t: 0, state };
}

/** adagrad's epsilon: tf.train.adagrad adds the backend's, 1e-7 for float32. */
const ADAGRAD_EPS = 1e-7;

/**
 * The state vectors an optimiser keeps, one float per parameter each, in the order of
 * optimizer.bin: momentum its accumulation; rmsprop its mean square and moments (and
 * mean gradient when centered); adam and adamw m and v; adamax m and the weighted
 * infinity norm; adagrad its accumulator.
 */
export function stateNames(o: Pick<OptimizerConfig, 'optimizer' | 'centered'>): readonly string[] {
  switch (o.optimizer) {
    case 'sgd': return [];
    case 'momentum': return ['accumulation'];
    case 'rmsprop': return o.centered ? ['meanSquare', 'moments', 'meanGrad'] : ['meanSquare', 'moments'];
    case 'adam': case 'adamw': return ['m', 'v'];
    case 'adamax': return ['m', 'u'];
    case 'adagrad': return ['accumulator'];
  }
}

/** The state before the first step: zeros, but adagrad's accumulator. */
export function initState(o: Pick<OptimizerConfig, 'optimizer' | 'initialAccumulatorValue'>, state: readonly Float32Array[]): void {
  for (const s of state) s.fill(0);
  if (o.optimizer === 'adagrad') state[0].fill(o.initialAccumulatorValue);
}

/**
 * One step `t` (from 1) of the optimiser in place over `w` and its `state` vectors (the
 * same slice of each), with the gradient `g`. One function a rule: each loop stays
 * monomorphic and free of per-element branches (the update is on every step's path).
 */
export function optimizerStep(o: OptimizerConfig, t: number, g: Float32Array, w: Float32Array, state: readonly Float32Array[]): void {
  switch (o.optimizer) {
    case 'sgd': return sgd(o.lr, g, w);
    case 'momentum': return momentum(o, g, w, state[0]);
    case 'rmsprop': return o.centered ? rmspropCentered(o, g, w, state[0], state[1], state[2]) : rmsprop(o, g, w, state[0], state[1]);
    case 'adam': return adam(o, t, g, w, state[0], state[1]);
    case 'adamw': return adamw(o, t, g, w, state[0], state[1]);
    case 'adamax': return adamax(o, t, g, w, state[0], state[1]);
    case 'adagrad': return adagrad(o.lr, g, w, state[0]);
  }
}

function sgd(lr: number, g: Float32Array, w: Float32Array): void {
  for (let i = 0; i < w.length; i++) w[i] -= lr * g[i];
}

/**
 * accumulation = momentum a + g; w -= lr a, or with Nesterov lr (g + momentum a). Op by
 * op in float32, as tf.train.momentum computes it (its -lr and momentum are float32
 * scalars): each add and multiply rounded. Computed in float64 instead, the weights
 * drift from tf.train's by up to 7e-4 of how far they moved in 200 steps, past the bound
 * Adam meets (test/unit/optimizers.test.ts), since momentum's steps are small next to a
 * weight's rounding.
 */
function momentum(o: OptimizerConfig, g: Float32Array, w: Float32Array, a: Float32Array): void {
  const f = Math.fround;
  const mu = f(o.momentum);
  const c = f(-o.lr);
  if (o.useNesterov) {
    for (let i = 0; i < w.length; i++) {
      const ai = f(f(mu * a[i]) + g[i]);
      a[i] = ai;
      w[i] = f(f(c * f(g[i] + f(ai * mu))) + w[i]);
    }
  } else {
    for (let i = 0; i < w.length; i++) {
      const ai = f(f(mu * a[i]) + g[i]);
      a[i] = ai;
      w[i] = f(f(c * ai) + w[i]);
    }
  }
}

/** ms = decay ms + (1 - decay) g^2; moments = momentum moments + lr g / sqrt(ms + eps); w -= moments (tf.train.rmsprop). */
function rmsprop(o: OptimizerConfig, g: Float32Array, w: Float32Array, ms: Float32Array, mom: Float32Array): void {
  const { decay, momentum: mu, eps, lr } = o;
  const a = 1 - decay;
  for (let i = 0; i < w.length; i++) {
    const gi = g[i];
    const msi = decay * ms[i] + a * gi * gi;
    ms[i] = msi;
    const mi = mu * mom[i] + (gi * lr) / Math.sqrt(msi + eps);
    mom[i] = mi;
    w[i] -= mi;
  }
}

/**
 * Centered: also mg = decay mg + (1 - decay) g, and the root is sqrt(ms - mg^2 + eps),
 * TensorFlow's ApplyCenteredRMSProp and Keras'. tfjs-core 4.22 computes
 * sqrt(ms - (mg^2 + eps)): NaN for a weight whose gradient is 0 (ms = mg = 0), so for
 * every weight a loss does not reach (tested).
 */
function rmspropCentered(o: OptimizerConfig, g: Float32Array, w: Float32Array, ms: Float32Array, mom: Float32Array, mg: Float32Array): void {
  const { decay, momentum: mu, eps, lr } = o;
  const a = 1 - decay;
  for (let i = 0; i < w.length; i++) {
    const gi = g[i];
    const msi = decay * ms[i] + a * gi * gi;
    const mgi = decay * mg[i] + a * gi;
    ms[i] = msi;
    mg[i] = mgi;
    const mi = mu * mom[i] + (gi * lr) / Math.sqrt(msi - mgi * mgi + eps);
    mom[i] = mi;
    w[i] -= mi;
  }
}

/**
 * m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 * w -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)   (tf.train.adam)
 */
function adam(o: OptimizerConfig, t: number, g: Float32Array, w: Float32Array, m: Float32Array, v: Float32Array): void {
  const { lr, beta1, beta2, eps } = o;
  const { inv1, inv2, a1, a2 } = adamConstants(o, t);
  for (let i = 0; i < w.length; i++) {
    const gi = g[i];
    const mi = beta1 * m[i] + a1 * gi;
    const vi = beta2 * v[i] + a2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] -= (lr * (mi * inv1)) / (Math.sqrt(vi * inv2) + eps);
  }
}

/**
 * Adam's constants of step t: the reciprocals of the bias corrections, so the loop
 * multiplies instead of dividing (the same formula; the float64 rounding difference
 * vanishes in the float32 store), and 1 - beta.
 */
function adamConstants(o: OptimizerConfig, t: number) {
  return { inv1: 1 / (1 - Math.pow(o.beta1, t)), inv2: 1 / (1 - Math.pow(o.beta2, t)), a1: 1 - o.beta1, a2: 1 - o.beta2 };
}

/** Adam, and lr wd w subtracted from the weight before this step: decoupled, the decay never enters m or v. */
function adamw(o: OptimizerConfig, t: number, g: Float32Array, w: Float32Array, m: Float32Array, v: Float32Array): void {
  const { lr, beta1, beta2, eps, weightDecay } = o;
  const { inv1, inv2, a1, a2 } = adamConstants(o, t);
  const decay = lr * weightDecay;
  for (let i = 0; i < w.length; i++) {
    const gi = g[i];
    const mi = beta1 * m[i] + a1 * gi;
    const vi = beta2 * v[i] + a2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const wi = w[i];
    w[i] = wi - (lr * (mi * inv1)) / (Math.sqrt(vi * inv2) + eps) - decay * wi;
  }
}

/** m = b1 m + (1 - b1) g;  u = max(b2 u, |g|);  w -= lr / (1 - b1^t) m / (u + eps)   (tf.train.adamax, no decay) */
function adamax(o: OptimizerConfig, t: number, g: Float32Array, w: Float32Array, m: Float32Array, u: Float32Array): void {
  const { beta1, beta2, eps } = o;
  const scale = o.lr / (1 - Math.pow(beta1, t));
  const a1 = 1 - beta1;
  for (let i = 0; i < w.length; i++) {
    const gi = g[i];
    const mi = beta1 * m[i] + a1 * gi;
    const ui = Math.max(beta2 * u[i], Math.abs(gi));
    m[i] = mi;
    u[i] = ui;
    w[i] -= scale * (mi / (ui + eps));
  }
}

/** accumulator += g^2;  w -= lr g / sqrt(accumulator + 1e-7)   (tf.train.adagrad) */
function adagrad(lr: number, g: Float32Array, w: Float32Array, acc: Float32Array): void {
  for (let i = 0; i < w.length; i++) {
    const gi = g[i];
    const ai = acc[i] + gi * gi;
    acc[i] = ai;
    w[i] -= (lr * gi) / Math.sqrt(ai + ADAGRAD_EPS);
  }
}
