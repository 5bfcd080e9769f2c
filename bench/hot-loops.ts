// `npm run bench:loops`: the two plain-JS loops on a step's path, each against the
// simpler way it replaced, in one thread, on shared memory as the workers use it,
// alternated, medians:
//   gather: gatherRows (four rows at a time, a /255 table) against a row at a time
//           dividing each byte by 255 (the gather before it), at 64 and 512 rows;
//   update: updateSlice over half of the MLP's parameters (two slabs), which reduces,
//           copies the slot it reads into the slot it writes and runs Adam's optimizerStep
//           there, against reduceGradients + optimizerStep in place over the same half (what the
//           coordinator ran before): the cost of the two slots;
//   reduce: reduceGradients over 4 slabs (4 workers, or their shards on fewer threads)
//           against one add a pass (the reduce before it).
// Both pairs are checked to give the same bits before they are timed.
import { gatherRows } from '../src/paths/fast/gather.js';
import type { MlpInputs } from '../src/model/mlp.js';
import { writeCombinedLabel } from '../src/model/labels.js';
import { reduceGradients, updateSlice } from '../src/optim/update.js';
import { DEFAULT_OPTIMIZER as ADAM, optimizerStep } from '../src/optim/optimizers.js';
import { Rng } from '../src/data/rng.js';
import { benchFlags, intFlag } from './cli.js';

const opts = benchFlags({ reps: 'string' }, `Usage: npm run bench:loops -- [--reps 5]
The gather and the update against the loops they replaced; medians of --reps alternated rounds.
`);
const reps = intFlag('reps', opts.reps, 5, 1);
const shared = (n: number, value: () => number = () => 0) => {
  const a = new Float32Array(new SharedArrayBuffer(n * 4));
  for (let i = 0; i < n; i++) a[i] = value();
  return a;
};
const rng = new Rng(7);

// ---- gather -------------------------------------------------------------------------
const INPUT = 784;
const NUM = 60000;
const images = new Uint8Array(new SharedArrayBuffer(NUM * INPUT));
for (let i = 0; i < images.length; i++) images[i] = Math.floor(rng.next() * 256);
const labels = new Uint8Array(NUM).map(() => Math.floor(rng.next() * 10));
const cond = labels.map((l) => l % 2);
/** Every row's combined label, as the coordinator builds them once at load. */
const labelRows = new Float32Array(new SharedArrayBuffer(NUM * 11 * 4));
for (let i = 0; i < NUM; i++) writeCombinedLabel(labels[i], cond[i], 10, labelRows, i * 11);

/** The gather before gatherRows' four-row loop: one row at a time, byte / 255, each label written from its class and condition. */
function plainGather(indices: Int32Array, rows: number, out: MlpInputs): number {
  let conditionSum = 0;
  for (let r = 0; r < rows; r++) {
    const i = indices[r];
    for (let k = 0; k < INPUT; k++) {
      const v = images[i * INPUT + k] / 255;
      out.x[r * INPUT + k] = v;
      out.xT[k * rows + r] = v;
    }
    writeCombinedLabel(labels[i], cond[i], 10, out.label, r * 11);
    conditionSum += cond[i];
  }
  return conditionSum;
}

function gatherCase(rows: number) {
  const indices = Int32Array.from({ length: rows }, () => Math.floor(rng.next() * NUM));
  const buf = () => ({ x: new Float32Array(rows * INPUT), xT: new Float32Array(rows * INPUT), label: new Float32Array(rows * 11) });
  const a = buf();
  const b = buf();
  gatherRows(images, labelRows, indices, 0, rows, INPUT, 11, a);
  plainGather(indices, rows, b);
  const same = ['x', 'xT', 'label'].every((k) => Buffer.from((a as never as Record<string, Float32Array>)[k].buffer).equals(Buffer.from((b as never as Record<string, Float32Array>)[k].buffer)));
  if (!same) throw new Error(`gather, ${rows} rows: gatherRows and the plain gather differ`);
  const iters = Math.max(50, Math.round(20000 / rows));
  return {
    name: `gather, ${rows} rows`,
    now: () => { for (let i = 0; i < iters; i++) gatherRows(images, labelRows, indices, 0, rows, INPUT, 11, a); return iters; },
    before: () => { for (let i = 0; i < iters; i++) plainGather(indices, rows, b); return iters; },
  };
}

// ---- update -------------------------------------------------------------------------
const PARAMS = 50890; // the seed MLP
const lo = 0;
const hi = PARAMS >> 1; // one of two workers' slices
const slabs = [0, 1].map(() => shared(PARAMS, () => (rng.next() - 0.5) * 10));
const slot = () => ({ w: shared(PARAMS, () => rng.next() - 0.5), s: [shared(PARAMS), shared(PARAMS)] });
const slots = [slot(), slot()];
const grad = shared(PARAMS);
const serial = { w: shared(hi - lo), t: 0, s: [shared(hi - lo), shared(hi - lo)] };
serial.w.set(slots[0].w.subarray(lo, hi));
const half = slabs.map((s) => s.subarray(lo, hi));
const halfGrad = grad.subarray(lo, hi);
let t = 0;
{
  // Same bits after a few steps from the same start.
  const check = { w: serial.w.slice(), s: [new Float32Array(hi - lo), new Float32Array(hi - lo)] };
  const from = { w: slots[0].w, s: [shared(PARAMS), shared(PARAMS)] };
  const to = { w: shared(PARAMS), s: [shared(PARAMS), shared(PARAMS)] };
  for (let k = 1; k <= 3; k++) {
    updateSlice(ADAM, k, slabs, 128, lo, hi, k % 2 ? from : to, k % 2 ? to : from, grad);
    reduceGradients(half, 128, halfGrad);
    optimizerStep(ADAM, k, halfGrad, check.w, check.s);
  }
  if (!Buffer.from((3 % 2 ? to : from).w.slice(lo, hi).buffer).equals(Buffer.from(check.w.buffer))) throw new Error('update: updateSlice and reduceGradients + optimizerStep differ');
}
const updateCase = {
  name: `update, ${hi - lo} parameters (half the MLP), 2 slabs`,
  now: () => { for (let i = 0; i < 200; i++) { t++; updateSlice(ADAM, t, slabs, 128, lo, hi, slots[t % 2], slots[(t + 1) % 2], grad); } return 200; },
  before: () => { for (let i = 0; i < 200; i++) { reduceGradients(half, 128, halfGrad); optimizerStep(ADAM, ++serial.t, halfGrad, serial.w, serial.s); } return 200; },
};

// ---- reduce -------------------------------------------------------------------------
/** The reduce of more than two slabs before: one pass a slab, each add stored. */
function onePassEach(from: readonly Float32Array[], normaliser: number, out: Float32Array): void {
  out.set(from[0]);
  for (let s = 1; s < from.length; s++) for (let i = 0; i < out.length; i++) out[i] += from[s][i];
  for (let i = 0; i < out.length; i++) out[i] *= 1 / normaliser;
}
const four = [0, 1, 2, 3].map(() => shared(hi - lo, () => (rng.next() - 0.5) * 10));
const reduced = [shared(hi - lo), shared(hi - lo)];
reduceGradients(four, 128, reduced[0]);
onePassEach(four, 128, reduced[1]);
if (!Buffer.from(reduced[0].buffer).equals(Buffer.from(reduced[1].buffer))) throw new Error('reduce: reduceGradients and one add a pass differ');
const reduceCase = {
  name: `reduce, ${hi - lo} parameters, 4 slabs`,
  now: () => { for (let i = 0; i < 200; i++) reduceGradients(four, 128, reduced[0]); return 200; },
  before: () => { for (let i = 0; i < 200; i++) onePassEach(four, 128, reduced[1]); return 200; },
};

// ---- run ----------------------------------------------------------------------------
const cases = [gatherCase(64), gatherCase(512), updateCase, reduceCase];
const med = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
const time = (f: () => number) => { const t0 = performance.now(); const n = f(); return (performance.now() - t0) / n; };
for (const c of cases) { c.now(); c.before(); } // warm-up: both compiled before timing
const rows: { name: string; nowMs: number; beforeMs: number }[] = [];
for (const c of cases) {
  const now: number[] = [];
  const before: number[] = [];
  for (let r = 0; r < reps; r++) {
    now.push(time(c.now));
    before.push(time(c.before));
  }
  rows.push({ name: c.name, nowMs: med(now), beforeMs: med(before) });
}
process.stdout.write(`hot loops, one thread, shared memory, medians of ${reps} alternated rounds\n\n| loop | now ms | before ms | now / before |\n| --- | ---: | ---: | ---: |\n`);
for (const r of rows) process.stdout.write(`| ${r.name} | ${r.nowMs.toFixed(3)} | ${r.beforeMs.toFixed(3)} | ${(r.nowMs / r.beforeMs).toFixed(2)}x |\n`);
process.stdout.write(`${JSON.stringify({ reps, rows })}\n`);
