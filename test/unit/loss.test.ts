// The combined label and the masked loss against hand-computed values; the gradient of
// the loss sum against central finite differences of an independent float64 forward.
import { beforeAll, describe, expect, it } from 'vitest';
import { conditionOf, parseMask, writeCombinedLabel } from '../../src/model/labels.js';
import { initBackend } from '../../src/model/init-backend.js';
import { maskedLoss, shardLossAndGradient, weightInputs } from '../../src/model/mlp.js';
import { heldBuffers, Kernels } from '../../src/model/kernels.js';
import { paramLayout, paramView } from '../../src/model/layout.js';
import type { Activation, ModelSpec } from '../../src/model/layout.js';
import { Rng } from '../../src/data/rng.js';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('combined label', () => {
  it('is the one-hot class then the condition column', () => {
    const out = new Float32Array(11 * 2);
    writeCombinedLabel(3, 1, 10, out, 0);
    writeCombinedLabel(4, 0, 10, out, 11);
    expect([...out.subarray(0, 11)]).toEqual([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]);
    expect([...out.subarray(11)]).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  });

  it('fills the condition by the mask rule', () => {
    const rule = (s: string) => parseMask(s) as Exclude<ReturnType<typeof parseMask>, string>;
    expect([0, 1, 2, 3].map((y) => conditionOf(y, rule('odd')))).toEqual([0, 1, 0, 1]);
    expect([0, 1, 2, 3].map((y) => conditionOf(y, rule('even')))).toEqual([1, 0, 1, 0]);
    expect([0, 1, 2, 3].map((y) => conditionOf(y, rule('all')))).toEqual([1, 1, 1, 1]);
    expect([0, 1, 3, 7].map((y) => conditionOf(y, rule('classes=1,3,7')))).toEqual([0, 1, 1, 1]);
    expect(parseMask('prime')).toBe('odd, even, all or classes=1,3,7');
  });
});

describe('masked loss', () => {
  it('equals the hand-computed sum of condition * cross-entropy', () => {
    // Row 0: logits [0, ln 3] -> softmax [1/4, 3/4], class 1, condition 1 -> -ln(3/4).
    // Row 1: logits [ln 2, 0] -> softmax [2/3, 1/3], class 1, condition 0 -> 0.
    // Row 2: logits [0, 0]    -> softmax [1/2, 1/2], class 0, condition 1 -> ln 2.
    const k = new Kernels();
    const logits = k.input(Float32Array.from([0, Math.log(3), Math.log(2), 0, 0, 0]), [3, 2]);
    const label = k.input(Float32Array.from([0, 1, 1, 0, 1, 0, 1, 0, 1]), [3, 3]);
    const { lossSum, dLogits } = maskedLoss(k, logits, label, 2);
    expect(k.scalar(lossSum)).toBeCloseTo(-Math.log(3 / 4) + Math.log(2), 6);
    // Its gradient wrt the logits: (softmax - onehot) * condition.
    const g = new Float32Array(6);
    k.read(dLogits, g);
    k.release();
    const expected = [1 / 4, 3 / 4 - 1, 0, 0, 1 / 2 - 1, 1 / 2];
    expected.forEach((e, i) => expect(g[i]).toBeCloseTo(e, 6));
  });
});

/** An independent float64 forward and masked loss sum, written from the definition. */
function lossFloat64(w: Float64Array, model: ModelSpec, x: number[][], y: number[], cond: number[]): number {
  const layout = paramLayout(model);
  const act = (a: Activation, z: number) => (a === 'relu' ? Math.max(0, z) : a === 'tanh' ? Math.tanh(z) : a === 'sigmoid' ? 1 / (1 + Math.exp(-z)) : z);
  let total = 0;
  x.forEach((row, r) => {
    let h = row;
    const layers = model.hidden.length + 1;
    for (let l = 0; l < layers; l++) {
      const k = layout.params[2 * l];
      const b = layout.params[2 * l + 1];
      const [nIn, nOut] = k.shape;
      const z = Array.from({ length: nOut }, (_, j) => {
        let s = w[b.offset + j];
        for (let i = 0; i < nIn; i++) s += h[i] * w[k.offset + i * nOut + j];
        return s;
      });
      h = l < model.hidden.length ? z.map((v) => act(model.hidden[l].activation, v)) : z;
    }
    const max = Math.max(...h);
    const lse = max + Math.log(h.reduce((s, v) => s + Math.exp(v - max), 0));
    total += cond[r] * (lse - h[y[r]]);
  });
  return total;
}

describe('gradient of the masked loss sum', () => {
  for (const hidden of [
    [{ units: 5, activation: 'relu' as const }],
    [{ units: 4, activation: 'tanh' as const }, { units: 3, activation: 'sigmoid' as const }],
    [{ units: 3, activation: 'linear' as const }],
  ]) {
    it(`matches finite differences for hidden ${hidden.map((h) => `${h.units} ${h.activation}`).join(', ')}`, () => {
      const model: ModelSpec = { inputSize: 6, hidden, numClasses: 4 };
      const layout = paramLayout(model);
      const rng = new Rng(7);
      const w64 = Float64Array.from({ length: layout.numParams }, () => rng.next() - 0.5);
      const rows = 5;
      const x = Array.from({ length: rows }, () => Array.from({ length: 6 }, () => rng.next()));
      const y = [0, 3, 1, 2, 1];
      const cond = [1, 0, 1, 1, 0];
      const label = new Float32Array(rows * 5);
      y.forEach((c, r) => writeCombinedLabel(c, cond[r], 4, label, r * 5));
      const xT = x[0].map((_, k) => x.map((row) => row[k]));
      const k = new Kernels();
      const flat = new Float32Array(layout.numParams);
      shardLossAndGradient(k, weightInputs(k, Float32Array.from(w64), layout), model, layout,
        rows, { x: Float32Array.from(x.flat()), xT: Float32Array.from(xT.flat()), label }, flat);
      k.release();
      const grads = layout.params.map((p) => paramView(flat, p));
      const h = 1e-6;
      let worst = 0;
      for (const p of layout.params) {
        const got = grads[layout.params.indexOf(p)];
        for (let i = 0; i < p.size; i++) {
          const wp = w64.slice(); wp[p.offset + i] += h;
          const wm = w64.slice(); wm[p.offset + i] -= h;
          const fd = (lossFloat64(wp, model, x, y, cond) - lossFloat64(wm, model, x, y, cond)) / (2 * h);
          worst = Math.max(worst, Math.abs(got[i] - fd) / Math.max(1e-3, Math.abs(fd)));
        }
      }
      expect(worst).toBeLessThan(1e-3);
      expect(paramView(new Float32Array(layout.numParams), layout.params[0]).length).toBe(6 * hidden[0].units);
    });
  }

  it('leaves no tensors behind', () => {
    const model: ModelSpec = { inputSize: 3, hidden: [{ units: 2, activation: 'relu' }], numClasses: 2 };
    const layout = paramLayout(model);
    const before = heldBuffers();
    const k = new Kernels();
    const w = weightInputs(k, new Float32Array(layout.numParams).fill(0.1), layout);
    const out = new Float32Array(layout.numParams);
    const shard = { x: new Float32Array(6).fill(1), xT: new Float32Array(6).fill(1), label: Float32Array.from([1, 0, 1, 1, 0, 1]) };
    shardLossAndGradient(k, w, model, layout, 2, shard, out);
    // The shard's own tensors are freed on return; the caller's weight inputs are not.
    expect(heldBuffers()).toBe(before + w.length);
    k.release();
    expect(heldBuffers()).toBe(before);
    expect(out.some((v) => v !== 0)).toBe(true);
  });
});
