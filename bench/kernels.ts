// `npm run bench:kernels`: one shard's forward and backward in one free-running thread
// (no pool, no coordinator), two ways, side by side:
//   engine: the same hand-written math through tfjs-core's ops (tf.fused.matMul,
//           tf.logSoftmax, ...), i.e. through the engine: Tensor objects, tf.tidy,
//           memory tracking per op;
//   direct: src/model/mlp.ts as the workers run it, kernels called without the engine.
// Each run is its own process (so JIT warm-up is measured from cold), runs alternate
// (engine, direct, engine, ...) and the table shows medians over the repetitions.
// Reported: median ms per step after step 300, ms for the first 150 steps (warm-up),
// CPU ms of the whole process per step (V8 compiles on background threads), and the
// largest difference between the two paths' gradients.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Kernels } from '../src/model/kernels.js';
import { initBackend } from '../src/model/init-backend.js';
import { shardLossAndGradient, weightInputs } from '../src/model/mlp.js';
import { paramLayout, paramView } from '../src/model/layout.js';
import type { ModelSpec, ParamLayout } from '../src/model/layout.js';
import { Rng } from '../src/data/rng.js';
import { maxRelDiff } from './exactness.js';
import { benchFlags, intFlag } from './cli.js';

const MODEL: ModelSpec = { inputSize: 784, hidden: [{ units: 64, activation: 'relu' }], numClasses: 10 };

/** One engine tensor per parameter, copied from the flat weights, in layout order. */
function weightTensors(flat: Float32Array, layout: ParamLayout): tf.Tensor[] {
  return layout.params.map((p) => tf.tensor(paramView(flat, p), p.shape, 'float32'));
}

/** The engine path: the masked loss and its hand-written gradient as tfjs-core ops. */
function engineStep(flat: Float32Array, layout: ParamLayout, rows: number, x: Float32Array, xT: Float32Array, label: Float32Array, out: Float32Array): number {
  const w = weightTensors(flat, layout);
  try {
    return tf.tidy(() => {
      const [w1, b1, w2, b2] = w as [tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D];
      const h = tf.fused.matMul({ a: tf.tensor2d(x, [rows, 784]), b: w1, bias: b1, activation: 'relu' });
      const logits = tf.fused.matMul({ a: h, b: w2, bias: b2 });
      const lab = tf.tensor2d(label, [rows, 11]);
      const onehot = tf.slice(lab, [0, 0], [-1, 10]);
      const cond = tf.slice(lab, [0, 10], [-1, 1]);
      const logp = tf.logSoftmax(logits);
      const loss = tf.sum(tf.mul(tf.neg(tf.sum(tf.mul(onehot, logp), 1, true)), cond));
      const dz2 = tf.mul(tf.sub(tf.mul(tf.exp(logp), tf.sum(onehot, 1, true)), onehot), cond);
      const dz1 = tf.mul(tf.matMul(dz2, tf.transpose(w2)), tf.step(h));
      const grads = [tf.matMul(tf.tensor2d(xT, [784, rows]), dz1), tf.sum(dz1, 0), tf.matMul(tf.transpose(h), dz2), tf.sum(dz2, 0)];
      layout.params.forEach((p, i) => paramView(out, p).set(grads[i].dataSync()));
      return loss.dataSync()[0];
    });
  } finally {
    tf.dispose(w);
  }
}

interface Measure { path: string; medianMs: number; first150Ms: number; cpuMsPerStep: number; diff: number }

/** One process: `steps` steps of one path on a fixed random shard whose weights change every step. */
async function child(path: 'engine' | 'direct', rows: number, steps: number): Promise<Measure> {
  await initBackend('wasm');
  const layout = paramLayout(MODEL);
  const rng = new Rng(1);
  const flat = Float32Array.from({ length: layout.numParams }, () => (rng.next() - 0.5) * 0.1);
  const x = Float32Array.from({ length: rows * 784 }, () => (rng.next() < 0.2 ? rng.next() : 0));
  const xT = new Float32Array(rows * 784);
  for (let r = 0; r < rows; r++) for (let k = 0; k < 784; k++) xT[k * rows + r] = x[r * 784 + k];
  const label = new Float32Array(rows * 11);
  for (let r = 0; r < rows; r++) {
    label[r * 11 + (r % 10)] = 1;
    label[r * 11 + 10] = r % 2;
  }
  const k = new Kernels();
  const direct = (out: Float32Array) => {
    const mark = k.mark();
    try {
      return shardLossAndGradient(k, weightInputs(k, flat, layout), MODEL, layout, rows, { x, xT, label }, out);
    } finally {
      k.release(mark);
    }
  };
  const engine = (out: Float32Array) => engineStep(flat, layout, rows, x, xT, label, out);
  // Both paths must compute the same gradient, or the timing means nothing.
  const a = new Float32Array(layout.numParams);
  const b = new Float32Array(layout.numParams);
  direct(a);
  engine(b);
  const diff = maxRelDiff(a, b);
  const run = path === 'direct' ? direct : engine;
  const out = new Float32Array(layout.numParams);
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let s = 0; s < steps; s++) {
    flat[s % flat.length] += 1e-6; // new weights every step, as in training
    const t0 = performance.now();
    run(out);
    times.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  const tail = times.slice(Math.min(300, steps >> 1)).sort((p, q) => p - q);
  return {
    path, diff,
    medianMs: tail[tail.length >> 1],
    first150Ms: times.slice(0, 150).reduce((s, t) => s + t, 0),
    cpuMsPerStep: (cpu.user + cpu.system) / 1000 / steps,
  };
}

const opts = benchFlags({ child: 'string', rows: 'string', steps: 'string', reps: 'string' }, `Usage: npm run bench:kernels -- [--rows 64] [--steps 1500] [--reps 5]
One shard's forward and backward in one thread, through the engine's ops and through
direct kernel calls (src/model/kernels.ts), each run a fresh process, alternated; medians.
`);
const rows = intFlag('rows', opts.rows, 64, 1);
const steps = intFlag('steps', opts.steps, 1500, 1);
const reps = intFlag('reps', opts.reps, 5, 1);
if (opts.child === 'engine' || opts.child === 'direct') {
  process.stdout.write(`${JSON.stringify(await child(opts.child, rows, steps))}\n`);
} else {
  const self = fileURLToPath(import.meta.url);
  const runs: Record<string, Measure[]> = { engine: [], direct: [] };
  for (let r = 0; r < reps; r++) {
    for (const path of ['engine', 'direct']) {
      const p = spawnSync(process.execPath, [self, '--child', path, '--rows', String(rows), '--steps', String(steps)], { encoding: 'utf8' });
      if (p.status !== 0) throw new Error(`${path} run exited ${p.status}: ${p.stderr.trim().split('\n').at(-1)}`);
      runs[path].push(JSON.parse(p.stdout.trim().split('\n').at(-1)!) as Measure);
    }
  }
  const med = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
  const summary = Object.fromEntries(Object.entries(runs).map(([path, ms]) => [path, {
    medianMs: med(ms.map((m) => m.medianMs)), first150Ms: med(ms.map((m) => m.first150Ms)),
    cpuMsPerStep: med(ms.map((m) => m.cpuMsPerStep)), maxDiff: Math.max(...ms.map((m) => m.diff)),
  }]));
  const f = (v: number, d = 3) => v.toFixed(d);
  process.stdout.write(`one ${rows}-row shard, forward + backward, ${steps} steps per run, median of ${reps} alternating runs\n\n`);
  process.stdout.write('| path | step ms (after 300) | first 150 steps ms | process CPU ms per step |\n| --- | ---: | ---: | ---: |\n');
  for (const [path, s] of Object.entries(summary)) process.stdout.write(`| ${path} | ${f(s.medianMs)} | ${f(s.first150Ms, 0)} | ${f(s.cpuMsPerStep)} |\n`);
  process.stdout.write(`\ndirect / engine: step ${f(summary.direct.medianMs / summary.engine.medianMs, 2)}x, first 150 steps ${f(summary.direct.first150Ms / summary.engine.first150Ms, 2)}x; ` +
    `gradients agree to ${summary.direct.maxDiff.toExponential(1)} (max |a-b| / max |b|)\n`);
  process.stdout.write(`${JSON.stringify({ rows, steps, reps, summary })}\n`);
}
