// One shard's training step, run in this thread exactly as a worker runs it (the same
// model path, backend and kernels), with every kernel timed (kernel-timer.ts): which
// kernels a model's step spends its time in, how often each is called, and how much of
// the step is outside kernels (the engine, the gradient tape, our own code).
import * as tf from '@tensorflow/tfjs-core';
import type { Prepared } from '../run/prepare.js';
import type { RunPlan } from '../run/plan.js';
import { initBackend } from '../model/init-backend.js';
import { startPathWorker } from '../paths/registry.js';
import type { PathName } from '../paths/registry.js';
import { planRun } from '../run/plan.js';
import { loadShared, workerInit } from '../run/start.js';
import { KernelTimer } from './kernel-timer.js';
import type { KernelStat } from './kernel-timer.js';

export interface ProfileOptions {
  /** Rows of the profiled shard; default: the largest shard of the run (a micro-shard in deterministic mode). */
  rows?: number;
  /** Timed steps, after `warmup` untimed ones. */
  steps: number;
  warmup: number;
  /** One line per kernel and input shapes instead of per kernel. */
  byShape?: boolean;
}

export interface ProfileResult {
  task: string;
  /** The model path (--engine). */
  engine: PathName;
  backend: string;
  rows: number;
  steps: number;
  warmup: number;
  /** Wall time of one step (weights into tensors, forward, loss, backward, gradient out). */
  stepMs: { median: number; mean: number; min: number };
  /** Per step: the kernels' self times added up, and the mean step's remainder. */
  kernelMs: number;
  outsideMs: number;
  kernelCalls: number;
  /** Per kernel, per step (calls and times divided by the timed steps), slowest self time first. */
  kernels: KernelStat[];
}

/** The rows one worker's shard has in this run (the first shards get the extra row). */
export function shardRows(config: RunPlan['config']): number {
  return config.deterministic ? Math.min(config.microShardRows, config.batchSize) : Math.ceil(config.batchSize / config.workers);
}

export async function profileStep(prepared: Prepared, opts: ProfileOptions): Promise<ProfileResult> {
  const { plan, data } = prepared;
  const { config, model } = plan;
  await initBackend(config.backend);
  const rows = Math.min(opts.rows ?? shardRows(config), plan.numTrain);
  // Shared memory for one worker whose batch is the profiled shard, and the model path's
  // worker half on it, as a step-loop thread sets them up (its checks and warm-up too).
  const one = planRun({ ...config, workers: 1, threads: 1, batchSize: rows, deterministic: false }, data, model, null, { evaluate: false });
  const { buffers, views } = loadShared(data, one);
  model.init(views.weights);
  const timer = new KernelTimer(tf.getBackend(), opts.byShape);
  try {
    const path = await startPathWorker(workerInit(buffers, one), views);
    const indices = Int32Array.from({ length: rows }, (_, i) => i); // the first rows of the training set
    path.gather(indices, 0, rows, 0);
    const slab = new Float32Array(model.layout.numParams);
    const step = () => {
      path.useWeights(views.weights);
      try {
        path.gradient({ step: 0, start: 0, rows, at: 0 }, slab);
      } finally {
        path.release();
      }
    };
    for (let i = 0; i < opts.warmup; i++) step();
    timer.reset();
    const times: number[] = [];
    for (let i = 0; i < opts.steps; i++) {
      const t0 = performance.now();
      step();
      times.push(performance.now() - t0);
    }
    const perStep = (x: number) => x / opts.steps;
    const kernels = timer.results().map((s) => ({ name: s.name, calls: perStep(s.calls), totalMs: perStep(s.totalMs), selfMs: perStep(s.selfMs) }));
    const sorted = [...times].sort((a, b) => a - b);
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    const kernelMs = kernels.reduce((a, s) => a + s.selfMs, 0);
    return {
      task: model.task.name, engine: model.path, backend: tf.getBackend(), rows, steps: opts.steps, warmup: opts.warmup,
      stepMs: { median: sorted[Math.floor(sorted.length / 2)], mean, min: sorted[0] },
      kernelMs, outsideMs: mean - kernelMs, kernelCalls: kernels.reduce((a, s) => a + s.calls, 0), kernels,
    };
  } finally {
    timer.uninstall();
  }
}

/** The result as a table for people. */
export function formatProfile(r: ProfileResult, top = Infinity): string {
  const f = (x: number, d = 3) => x.toFixed(d);
  const pct = (x: number) => `${(100 * x / r.stepMs.mean).toFixed(1)}%`;
  const lines = [
    `profile: ${r.task === 'built-in' ? 'the built-in task' : `task ${r.task}`}, ${r.engine} path, ${r.backend} backend, ${r.rows} rows a step, ${r.steps} steps timed after ${r.warmup} warm-up steps`,
    `step: median ${f(r.stepMs.median)} ms, mean ${f(r.stepMs.mean)} ms, min ${f(r.stepMs.min)} ms`,
    `in kernels ${f(r.kernelMs)} ms (${pct(r.kernelMs)}), outside kernels ${f(r.outsideMs)} ms (${pct(r.outsideMs)}): the engine, the gradient tape and the trainer's own code; ${f(r.kernelCalls, 0)} kernel calls a step`,
    '',
  ];
  const rows = r.kernels.slice(0, top).map((s) => [s.name, f(s.calls, s.calls % 1 === 0 ? 0 : 1), f(s.selfMs), pct(s.selfMs), f(s.totalMs), s.calls ? f(1000 * s.selfMs / s.calls, 1) : '-']);
  const head = ['kernel', 'calls', 'self ms', '% of step', 'total ms', 'self us/call'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  lines.push(fmt(head), ...rows.map(fmt));
  if (r.kernels.length > top) lines.push(`... ${r.kernels.length - top} more kernels (--top)`);
  lines.push('', 'self: the kernel alone; total: with the kernels it calls (a replacement kernel that runs Transpose and Conv2D, say). Times are per step.');
  return lines.join('\n') + '\n';
}
