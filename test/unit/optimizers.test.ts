// Every optimiser against tf.train's own (AdamW against its paper's rule, written here in
// float64), fed the same gradients; the sharded update against the serial one for each;
// the learning-rate schedules against their formulas; and the reduce against a plain sum.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/model/init-backend.js';
import { reduceGradients, updateSlice } from '../../src/optim/update.js';
import { DEFAULT_OPTIMIZER, newOptimizerState, optimizerStep, stateNames } from '../../src/optim/optimizers.js';
import type { OptimizerConfig } from '../../src/optim/optimizers.js';
import { learningRateAt } from '../../src/optim/schedules.js';
import type { LrSchedule } from '../../src/optim/schedules.js';
import { Rng } from '../../src/data/rng.js';
import { maxRelDiff } from '../helpers.js';

beforeAll(async () => {
  await initBackend('wasm');
});

// The bounds over 200 steps, as the Adam update met them against tf.train.adam when they
// were set (seeds 3-5, both Adam settings below): max |ours - tf| / max |tf| <= 8.7e-7,
// and per element, relative to how far the weight moved, <= 3.0e-4. Every optimiser is
// held to them. Not bit-identical: tf.train rounds every op to float32 where this rounds
// once per stored value.
const MAX_REL = 1e-6;
const PER_ELEMENT = 5e-4;

const cfg = (o: Partial<OptimizerConfig>): OptimizerConfig => ({ ...DEFAULT_OPTIMIZER, ...o });

/** [our settings, tf.train's optimiser with the same ones] */
const CASES: [string, OptimizerConfig, () => tf.Optimizer][] = [
  ['adam (defaults)', cfg({}), () => tf.train.adam(1e-3, 0.9, 0.999, 1e-7)],
  ['adam (lr 0.01, beta1 0.8, beta2 0.99, eps 1e-5)', cfg({ lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-5 }), () => tf.train.adam(0.01, 0.8, 0.99, 1e-5)],
  ['sgd', cfg({ optimizer: 'sgd', lr: 0.05 }), () => tf.train.sgd(0.05)],
  ['momentum', cfg({ optimizer: 'momentum', lr: 0.01, momentum: 0.9 }), () => tf.train.momentum(0.01, 0.9)],
  ['momentum, Nesterov', cfg({ optimizer: 'momentum', lr: 0.01, momentum: 0.8, useNesterov: true }), () => tf.train.momentum(0.01, 0.8, true)],
  ['rmsprop', cfg({ optimizer: 'rmsprop', lr: 1e-3, decay: 0.9, momentum: 0, eps: 1e-7 }), () => tf.train.rmsprop(1e-3, 0.9, 0, 1e-7)],
  ['adamax', cfg({ optimizer: 'adamax', lr: 2e-3, beta1: 0.9, beta2: 0.999, eps: 1e-7 }), () => tf.train.adamax(2e-3, 0.9, 0.999, 1e-7)],
  ['adagrad', cfg({ optimizer: 'adagrad', lr: 0.05, initialAccumulatorValue: 0.1 }), () => tf.train.adagrad(0.05, 0.1)],
];

/** Gradients of mixed scale, some exactly zero, as real ones are. */
const gradient = (rng: Rng, n: number) => Float32Array.from({ length: n }, (_, i) => (i % 17 === 0 ? 0 : (rng.next() - 0.5) * 10 ** (i % 5 - 3)));

describe('every optimiser against tf.train\'s, 200 steps fed the same gradients', () => {
  for (const [name, o, make] of CASES) {
    it(name, () => {
      const rng = new Rng(3);
      const n = 1000;
      const w0 = Float32Array.from({ length: n }, () => rng.next() - 0.5);
      const ours = w0.slice();
      const state = newOptimizerState(o, n);
      const variable = tf.variable(tf.tensor1d(w0));
      const opt = make();
      for (let step = 0; step < 200; step++) {
        const g = gradient(rng, n);
        optimizerStep(o, ++state.t, g, ours, state.state);
        tf.tidy(() => opt.applyGradients([{ name: variable.name, tensor: tf.tensor1d(g) }]));
        const ref = variable.dataSync();
        expect(maxRelDiff(ours, ref)).toBeLessThan(MAX_REL);
        // Also per element, relative to how far each weight moved, so a wrong update of
        // small weights cannot hide behind the large ones.
        let worst = 0;
        for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(ours[i] - ref[i]) / Math.max(Math.abs(ref[i] - w0[i]), 1e-3));
        expect(worst).toBeLessThan(PER_ELEMENT);
      }
      // Not vacuous: the weights moved.
      expect(maxRelDiff(ours, w0)).toBeGreaterThan(1e-3);
      opt.dispose();
      variable.dispose();
    });
  }

  it("centered rmsprop against TensorFlow's ApplyCenteredRMSProp (sqrt(ms - mg^2 + eps)), in float64; tf.train's gives NaN where a gradient is 0", () => {
    const o = cfg({ optimizer: 'rmsprop', lr: 1e-3, decay: 0.8, momentum: 0.5, eps: 1e-6, centered: true });
    const rng = new Rng(5);
    const n = 1000;
    const w0 = Float32Array.from({ length: n }, () => rng.next() - 0.5);
    const ours = w0.slice();
    const state = newOptimizerState(o, n);
    const [theta, ms, mg, mom] = [Float64Array.from(w0), new Float64Array(n), new Float64Array(n), new Float64Array(n)];
    const variable = tf.variable(tf.tensor1d(w0));
    const opt = tf.train.rmsprop(o.lr, o.decay, o.momentum, o.eps, true);
    for (let t = 1; t <= 200; t++) {
      const g = gradient(rng, n);
      optimizerStep(o, ++state.t, g, ours, state.state);
      tf.tidy(() => opt.applyGradients([{ name: variable.name, tensor: tf.tensor1d(g) }]));
      for (let i = 0; i < n; i++) {
        ms[i] = o.decay * ms[i] + (1 - o.decay) * g[i] * g[i];
        mg[i] = o.decay * mg[i] + (1 - o.decay) * g[i];
        mom[i] = o.momentum * mom[i] + (o.lr * g[i]) / Math.sqrt(ms[i] - mg[i] * mg[i] + o.eps);
        theta[i] -= mom[i];
      }
      expect(maxRelDiff(ours, Float32Array.from(theta))).toBeLessThan(MAX_REL);
      let worst = 0;
      for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(ours[i] - theta[i]) / Math.max(Math.abs(theta[i] - w0[i]), 1e-3));
      expect(worst).toBeLessThan(PER_ELEMENT);
    }
    // tfjs-core's sqrt(ms - (mg^2 + eps)): every 17th gradient here is always 0, and its weight becomes NaN.
    const tfjs = variable.dataSync();
    expect(Number.isNaN(tfjs[0])).toBe(true);
    expect(ours[0]).toBe(w0[0]);
    opt.dispose();
    variable.dispose();
  });

  it('adamw against the rule of Loshchilov & Hutter (Algorithm 2, eta = lr, alpha = 1), in float64', () => {
    const o = cfg({ optimizer: 'adamw', lr: 0.01, weightDecay: 0.05 });
    const rng = new Rng(4);
    const n = 1000;
    const w0 = Float32Array.from({ length: n }, () => rng.next() - 0.5);
    const ours = w0.slice();
    const state = newOptimizerState(o, n);
    // The paper's rule: m_t = b1 m + (1 - b1) g; v_t = b2 v + (1 - b2) g^2; m^ = m_t / (1 - b1^t);
    // v^ = v_t / (1 - b2^t); theta_t = theta - eta (alpha m^ / (sqrt(v^) + eps) + lambda theta).
    const theta = Float64Array.from(w0);
    const m = new Float64Array(n);
    const v = new Float64Array(n);
    for (let t = 1; t <= 200; t++) {
      const g = gradient(rng, n);
      optimizerStep(o, ++state.t, g, ours, state.state);
      for (let i = 0; i < n; i++) {
        m[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
        v[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
        const mHat = m[i] / (1 - o.beta1 ** t);
        const vHat = v[i] / (1 - o.beta2 ** t);
        theta[i] -= o.lr * (mHat / (Math.sqrt(vHat) + o.eps) + o.weightDecay * theta[i]);
      }
      expect(maxRelDiff(ours, Float32Array.from(theta))).toBeLessThan(MAX_REL);
      let worst = 0;
      for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(ours[i] - theta[i]) / Math.max(Math.abs(theta[i] - w0[i]), 1e-3));
      expect(worst).toBeLessThan(PER_ELEMENT);
    }
    // The decay did something: Adam alone ends elsewhere.
    const adam = w0.slice();
    const adamState = newOptimizerState(cfg({ lr: 0.01 }), n);
    const rng2 = new Rng(4);
    for (let i = 0; i < n; i++) rng2.next();
    for (let t = 1; t <= 200; t++) optimizerStep(cfg({ lr: 0.01 }), ++adamState.t, gradient(rng2, n), adam, adamState.state);
    expect(maxRelDiff(adam, ours)).toBeGreaterThan(1e-3);
  });
});

describe('learning-rate schedules against their formulas', () => {
  const base: LrSchedule = { schedule: 'constant', lr: 0.1, decaySteps: 1, decayRate: 1, staircase: false, boundaries: [], values: [], alpha: 0, warmupSteps: 0 };
  const at = (s: Partial<LrSchedule>, steps: number[]) => steps.map((k) => learningRateAt({ ...base, ...s }, k));
  it('constant', () => expect(at({}, [0, 1, 1000])).toEqual([0.1, 0.1, 0.1]));
  it("exponential (Keras' ExponentialDecay): lr rate^(step / decaySteps), staircase: floor", () => {
    const r = at({ schedule: 'exponential', decaySteps: 10, decayRate: 0.5 }, [0, 5, 10, 20, 25]);
    [0.1, 0.1 / Math.SQRT2, 0.05, 0.025, 0.025 / Math.SQRT2].forEach((x, i) => expect(r[i]).toBeCloseTo(x, 15));
    expect(at({ schedule: 'exponential', decaySteps: 10, decayRate: 0.5, staircase: true }, [9, 10, 19, 20])).toEqual([0.1, 0.05, 0.05, 0.025]);
  });
  it("piecewise (Keras' PiecewiseConstantDecay): values[i] while step <= boundaries[i]", () => {
    expect(at({ schedule: 'piecewise', boundaries: [10, 20], values: [1, 0.5, 0.1] }, [0, 10, 11, 20, 21, 999])).toEqual([1, 1, 0.5, 0.5, 0.1, 0.1]);
  });
  it("cosine (Keras' CosineDecay): lr ((1 - alpha) (1 + cos(pi min(step, decaySteps) / decaySteps)) / 2 + alpha)", () => {
    const r = at({ schedule: 'cosine', lr: 1, decaySteps: 100 }, [0, 25, 50, 100, 150]);
    [1, (1 + Math.SQRT1_2) / 2, 0.5, 0, 0].forEach((x, i) => expect(r[i]).toBeCloseTo(x, 15));
    const withAlpha = at({ schedule: 'cosine', lr: 1, decaySteps: 100, alpha: 0.1 }, [50, 100, 200]);
    [0.55, 0.1, 0.1].forEach((x, i) => expect(withAlpha[i]).toBeCloseTo(x, 15));
  });
  it('a linear warm-up to the schedule\'s first rate, then the schedule from its step 0', () => {
    expect(at({ warmupSteps: 4 }, [0, 1, 3, 4, 100])).toEqual([0.025, 0.05, 0.1, 0.1, 0.1]);
    const r = at({ schedule: 'exponential', decaySteps: 10, decayRate: 0.5, warmupSteps: 5 }, [0, 4, 5, 15]);
    [0.02, 0.1, 0.1, 0.05].forEach((x, i) => expect(r[i]).toBeCloseTo(x, 15));
  });
});

describe('reduceGradients', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('%i slabs of random floats: the bytes of one float32 add a pass, then one multiply', (shards) => {
    const rng = new Rng(40 + shards);
    const n = 2001;
    const slabs = Array.from({ length: shards }, (_, s) => Float32Array.from({ length: n }, () => (rng.next() - 0.5) * 10 ** (s % 4 - 2)));
    const normaliser = 97;
    const out = new Float32Array(n);
    reduceGradients(slabs, normaliser, out);
    // The reference: each add stored (rounded to float32), then the stored sum times 1/normaliser.
    const ref = new Float32Array(n);
    if (shards === 2) for (let i = 0; i < n; i++) ref[i] = (slabs[0][i] + slabs[1][i]) * (1 / normaliser);
    else {
      ref.set(slabs[0]);
      for (let s = 1; s < shards; s++) for (let i = 0; i < n; i++) ref[i] += slabs[s][i];
      for (let i = 0; i < n; i++) ref[i] *= 1 / normaliser;
    }
    expect(Buffer.from(out.buffer).equals(Buffer.from(ref.buffer))).toBe(true);
  });

  for (const shards of [1, 2, 3, 4, 5, 6]) {
    it(`sums ${shards} slabs in order and divides once`, () => {
      const slabs = Array.from({ length: shards }, (_, s) => Float32Array.from({ length: 7 }, (_, i) => (s + 1) * (i - 3)));
      const out = new Float32Array(7);
      reduceGradients(slabs, 4, out);
      const expected = Array.from({ length: 7 }, (_, i) => slabs.reduce((a, sl) => a + sl[i], 0) / 4);
      expected.forEach((e, i) => expect(out[i]).toBeCloseTo(e, 6));
    });
  }
});

describe('the sharded update (updateSlice) against the serial reduce and update', () => {
  const optimizers: OptimizerConfig[] = [
    cfg({ lr: 0.01 }), cfg({ optimizer: 'sgd', lr: 0.05 }), cfg({ optimizer: 'momentum', lr: 0.01, momentum: 0.9, useNesterov: true }),
    cfg({ optimizer: 'rmsprop', momentum: 0.5, centered: true }), cfg({ optimizer: 'adamax' }), cfg({ optimizer: 'adagrad', lr: 0.05 }),
    cfg({ optimizer: 'adamw', lr: 0.01, weightDecay: 0.1 }),
  ];
  for (const o of optimizers) {
    it.each([[1, 1], [2, 2], [3, 3], [4, 2], [5, 2], [2, 4], [8, 3]])(`${o.optimizer}: %i slabs, %i slices, 300 steps: the weights and every state vector byte for byte`, (numSlabs, numSlices) => {
      const n = 1031; // not a multiple of the slice count
      const rng = new Rng(numSlabs * 10 + numSlices);
      const serial = { w: Float32Array.from({ length: n }, () => rng.next() - 0.5), state: newOptimizerState(o, n) };
      const slots = [0, 1].map(() => ({ w: new Float32Array(n), s: newOptimizerState(o, n).state }));
      slots[0].w.set(serial.w);
      const grad = new Float32Array(n);
      const bounds = Array.from({ length: numSlices + 1 }, (_, i) => Math.round((i * n) / numSlices));
      for (let step = 0; step < 300; step++) {
        const slabs = Array.from({ length: numSlabs }, () => Float32Array.from({ length: n }, () => (rng.next() - 0.5) * 3));
        const normaliser = 1 + Math.floor(rng.next() * 128);
        reduceGradients(slabs, normaliser, grad);
        optimizerStep(o, ++serial.state.t, grad, serial.w, serial.state.state);
        for (let k = 0; k < numSlices; k++) updateSlice(o, step + 1, slabs, normaliser, bounds[k], bounds[k + 1], slots[step % 2], slots[(step + 1) % 2], grad);
      }
      const last = slots[300 % 2];
      const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
      expect(bytes(last.w).equals(bytes(serial.w))).toBe(true);
      expect(last.s).toHaveLength(stateNames(o).length);
      last.s.forEach((s, k) => expect(bytes(s).equals(bytes(serial.state.state[k]))).toBe(true));
      expect(bytes(last.w).equals(bytes(slots[0].w === last.w ? slots[1].w : slots[0].w))).toBe(false); // the other slot is a step behind
    });
  }
});
