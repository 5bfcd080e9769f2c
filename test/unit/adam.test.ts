// The flat Adam against tf.train.adam itself, and the reduce against a plain sum.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/model/init-backend.js';
import { ADAM_DEFAULTS, adamStep, newAdamState, reduceGradients, updateSlice } from '../../src/optim/adam.js';
import { Rng } from '../../src/data/rng.js';
import { maxRelDiff } from '../helpers.js';

beforeAll(async () => {
  await initBackend('wasm');
});

// The bounds over 200 steps, as the update met them when they were set (seeds 3-5, both
// settings below): max |ours - tf| / max |tf| <= 8.7e-7, and per element, relative to
// how far the weight moved, <= 3.0e-4. Not bit-identical: tf.train.adam rounds every op
// to float32 where this rounds once per stored value.
const MAX_REL = 1e-6;
const PER_ELEMENT = 5e-4;

describe('flat Adam', () => {
  for (const cfg of [ADAM_DEFAULTS, { lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-5 }]) {
    it(`equals tf.train.adam over 200 steps fed the same gradients (lr ${cfg.lr}, beta1 ${cfg.beta1}, beta2 ${cfg.beta2}, eps ${cfg.eps})`, () => {
      const rng = new Rng(3);
      const n = 1000;
      const w0 = Float32Array.from({ length: n }, () => rng.next() - 0.5);
      const ours = w0.slice();
      const state = newAdamState(n);
      const variable = tf.variable(tf.tensor1d(w0));
      const opt = tf.train.adam(cfg.lr, cfg.beta1, cfg.beta2, cfg.eps);
      for (let step = 0; step < 200; step++) {
        // Gradients of mixed scale, some exactly zero, as real ones are.
        const g = Float32Array.from({ length: n }, (_, i) => (i % 17 === 0 ? 0 : (rng.next() - 0.5) * 10 ** (i % 5 - 3)));
        adamStep(cfg, state, g, ours);
        tf.tidy(() => opt.applyGradients([{ name: variable.name, tensor: tf.tensor1d(g) }]));
        const ref = variable.dataSync();
        expect(maxRelDiff(ours, ref)).toBeLessThan(MAX_REL);
        // Also per element, relative to how far each weight moved, so a wrong update of
        // small weights cannot hide behind the large ones.
        let worst = 0;
        for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(ours[i] - ref[i]) / Math.max(Math.abs(ref[i] - w0[i]), 1e-3));
        expect(worst).toBeLessThan(PER_ELEMENT);
      }
      expect(state.t).toBe(200);
      opt.dispose();
      variable.dispose();
    });
  }
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

describe('the sharded update (updateSlice) against the serial reduce and Adam', () => {
  it.each([[1, 1], [2, 2], [3, 3], [4, 2], [5, 2], [2, 4], [8, 3]])('%i slabs, %i slices, 300 steps: the weights, m and v byte for byte', (numSlabs, numSlices) => {
    const n = 1031; // not a multiple of the slice count
    const rng = new Rng(numSlabs * 10 + numSlices);
    const cfg = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-7 };
    const serial = { w: Float32Array.from({ length: n }, () => rng.next() - 0.5), state: newAdamState(n) };
    const slots = [0, 1].map(() => ({ w: new Float32Array(n), m: new Float32Array(n), v: new Float32Array(n) }));
    slots[0].w.set(serial.w);
    const grad = new Float32Array(n);
    const bounds = Array.from({ length: numSlices + 1 }, (_, i) => Math.round((i * n) / numSlices));
    for (let step = 0; step < 300; step++) {
      const slabs = Array.from({ length: numSlabs }, () => Float32Array.from({ length: n }, () => (rng.next() - 0.5) * 3));
      const normaliser = 1 + Math.floor(rng.next() * 128);
      reduceGradients(slabs, normaliser, grad);
      adamStep(cfg, serial.state, grad, serial.w);
      for (let k = 0; k < numSlices; k++) updateSlice(cfg, step + 1, slabs, normaliser, bounds[k], bounds[k + 1], slots[step % 2], slots[(step + 1) % 2], grad);
    }
    const last = slots[300 % 2];
    const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    expect(bytes(last.w).equals(bytes(serial.w))).toBe(true);
    expect(bytes(last.m).equals(bytes(serial.state.m))).toBe(true);
    expect(bytes(last.v).equals(bytes(serial.state.v))).toBe(true);
    expect(bytes(last.w).equals(bytes(slots[0].w === last.w ? slots[1].w : slots[0].w))).toBe(false); // the other slot is a step behind
  });
});
