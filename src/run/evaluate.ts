// The evaluation after the last step, by the workers (forward only, in parallel): the
// seed's parity report for the built-in task, or a task's report (its mean loss, the
// confusion matrix, weighted and unweighted), on the training rows and the test set.
import * as tfc from '@tensorflow/tfjs-core';
import { hold } from '../engine/faults.js';
import type { WorkerPool } from '../engine/pool.js';
import { TASK } from '../engine/protocol.js';
import type { PredictResult } from '../engine/protocol.js';
import { splitShards } from '../engine/shards.js';
import type { SharedViews } from '../engine/shared-memory.js';
import { normaliserOf } from '../engine/step-loops.js';
import { maskToString } from '../model/labels.js';
import type { RunModel } from '../paths/path.js';
import { evalReport, taskReport } from '../metrics/eval.js';
import type { EvalReport } from '../metrics/eval.js';
import { firstLine } from '../task/load.js';
import { tf } from '../task/tf.js';
import type { Logger } from './log.js';
import type { RunPlan } from './plan.js';
import type { Validation } from './run-log.js';
import { round } from '../metrics/step-stats.js';

export type SplitName = 'train' | 'test';

/** The evaluation's reports, of the splits the plan names (--eval). */
export type EvalReports = { train?: EvalReport; test?: EvalReport };

/** The plan's evaluation of the weights after `steps` steps, logged as the `eval` event (with `fields` first); null when none runs. */
export async function evaluateAndLog(log: Logger, plan: RunPlan, wp: WorkerPool, views: SharedViews, steps: number, fields: object = {}): Promise<EvalReports | null> {
  const { evaluation, model } = plan;
  if (evaluation.kind === 'off') return null;
  hold('evaluating');
  const start = performance.now();
  const splits = Object.entries(evaluation.rows) as [SplitName, number][];
  // Every split's jobs at once: the threads are never idle between splits.
  const sums = await Promise.all(splits.map(([split, rows]) => predictRows(wp, steps, split, 0, rows)));
  const C = model.task.numClasses;
  const reports: EvalReports = {};
  splits.forEach(([split, rows], i) => {
    const { labels, predictions, y } = splitViews(views, split, rows, model.task.labelWidth);
    if (evaluation.kind === 'builtin') {
      // A row's condition: its combined label's last column is > 0 (1 for --mask's labels).
      reports[split] = evalReport(labels, predictions, Uint8Array.from({ length: rows }, (_, r) => (y[(r + 1) * (C + 1) - 1] > 0 ? 1 : 0)), C);
      return;
    }
    const { loss, metrics } = meansOf(plan, sums[i], rows);
    const withMetrics = model.task.metrics.length > 0 ? { metrics } : {};
    // The class report only when the output has class columns (the first numClasses).
    reports[split] = model.classOutput ? { ...taskReport(labels, predictions, rowWeights(model, y, rows), C, loss), ...withMetrics } : { rows, loss, ...withMetrics };
  });
  const what = evaluation.kind === 'builtin' ? { mask: maskToString(plan.config.mask) } : { task: model.task.name };
  log.info({ event: 'eval', ...fields, ...what, ms: round(performance.now() - start), ...reports }, 'eval');
  return reports;
}

/**
 * The validation figures after `steps` steps (the loops stopped): the plan's validation
 * rows predicted by the workers, their mean loss and each metric's (weighted) mean,
 * named as tfjs-layers names them.
 */
export async function validate(plan: RunPlan, wp: WorkerPool, steps: number): Promise<Validation> {
  const v = plan.validation!;
  const { loss, metrics } = meansOf(plan, await predictRows(wp, steps, v.split, v.start, v.end), v.end - v.start);
  return Object.fromEntries([['val_loss', loss], ...Object.entries(metrics).map(([name, m]) => [`val_${name}`, m])]) as Validation;
}

/**
 * The workers predict rows [start, end) of a split (forward only, in parallel, cut into
 * two jobs a thread): the classes into the shared predictions, and the rows' loss,
 * weight and metric sums (when the path computes them), added in the jobs' order, not in
 * the order they finished: the same figures every run.
 */
async function predictRows(wp: WorkerPool, steps: number, split: SplitName, start: number, end: number) {
  const results = await Promise.all(splitShards(end - start, wp.threads.length * 2).filter(([a, b]) => b > a)
    .map(([a, b]) => wp.pool.run({ kind: TASK.predict, steps, split, start: start + a, end: start + b }) as Promise<PredictResult>));
  const sum = { loss: 0, weight: 0, metrics: [] as number[], metricWeight: 0 };
  for (const r of results) {
    sum.loss += r.lossSum;
    sum.weight += r.weightSum;
    sum.metrics = r.metricSums.map((m, i) => m + (sum.metrics[i] ?? 0));
    sum.metricWeight += r.metricWeight;
  }
  return sum;
}

/** Some rows' mean loss, divided as --normalize divides a batch's, and each metric's (weighted) mean, by name. */
function meansOf(plan: RunPlan, sum: Awaited<ReturnType<typeof predictRows>>, rows: number) {
  return {
    loss: sum.loss / normaliserOf(plan.update.normalize, rows, sum.weight),
    metrics: Object.fromEntries(plan.model.task.metrics.map((m, i) => [m.name, (sum.metrics[i] ?? 0) / (sum.metricWeight || 1)])),
  };
}

/** A split's first `rows` labels, predictions and combined-label rows. */
function splitViews(views: SharedViews, split: SplitName, rows: number, labelWidth: number) {
  const train = split === 'train';
  return {
    labels: (train ? views.trainLabels : views.testLabels).subarray(0, rows),
    predictions: (train ? views.trainPredictions : views.testPredictions).subarray(0, rows),
    y: (train ? views.trainY : views.testY).subarray(0, rows * labelWidth),
  };
}

/** The task's sample weights of every row (its weight export on the label rows), or null without one. */
function rowWeights(run: RunModel, y: Float32Array, rows: number): Float32Array | null {
  const fn = run.task.module.weight;
  if (!fn || rows === 0) return null;
  try {
    return tfc.tidy(() => fn({ tf }, tfc.tensor2d(y, [rows, run.task.labelWidth])).dataSync() as Float32Array);
  } catch (e) {
    throw new Error(`${run.task.name}: export "weight" threw in the evaluation: ${firstLine(e)}`);
  }
}
