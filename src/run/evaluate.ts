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

/** The plan's evaluation of the weights after `steps` steps, logged as the `eval` event; null when none runs. */
export async function evaluateAndLog(log: Logger, plan: RunPlan, wp: WorkerPool, views: SharedViews, steps: number): Promise<EvalReports | null> {
  const { evaluation, model } = plan;
  if (evaluation.kind === 'off') return null;
  hold('evaluating');
  const start = performance.now();
  const sums = await predictSplits(wp, steps, evaluation.rows);
  const C = model.task.numClasses;
  const reports: EvalReports = {};
  for (const [split, rows] of Object.entries(evaluation.rows) as [SplitName, number][]) {
    const { labels, predictions, y } = splitViews(views, split, rows, model.task.labelWidth);
    if (evaluation.kind === 'builtin') {
      // A row's condition: its combined label's last column is > 0 (1 for --mask's labels).
      reports[split] = evalReport(labels, predictions, Uint8Array.from({ length: rows }, (_, r) => (y[(r + 1) * (C + 1) - 1] > 0 ? 1 : 0)), C);
    } else {
      const { loss: lossSum, weight, metrics: metricSums, metricWeight } = sums[split];
      const loss = lossSum / normaliserOf(plan.update.normalize, rows, weight);
      // Each metric's (weighted) mean; none without a metrics export.
      const metrics = model.task.metrics.length > 0
        ? { metrics: Object.fromEntries(model.task.metrics.map((m, i) => [m.name, (metricSums[i] ?? 0) / (metricWeight || 1)])) }
        : {};
      // The class report only when the output has class columns (the first numClasses).
      reports[split] = model.classOutput ? { ...taskReport(labels, predictions, rowWeights(model, y, rows), C, loss), ...metrics } : { rows, loss, ...metrics };
    }
  }
  const what = evaluation.kind === 'builtin' ? { mask: maskToString(plan.config.mask) } : { task: model.task.name };
  log.info({ event: 'eval', ...what, ms: round(performance.now() - start), ...reports }, 'eval');
  return reports;
}

/**
 * The validation figures after `steps` steps (the loops stopped): the plan's validation
 * rows predicted by the workers, their mean loss divided as --normalize divides a
 * batch's, and each metric's (weighted) mean, named as tfjs-layers names them.
 */
export async function validate(plan: RunPlan, wp: WorkerPool, steps: number): Promise<Validation> {
  const v = plan.validation!;
  const results = await Promise.all(splitShards(v.end - v.start, wp.threads.length * 2).filter(([a, b]) => b > a)
    .map(([a, b]) => wp.pool.run({ kind: TASK.predict, steps, split: v.split, start: v.start + a, end: v.start + b }) as Promise<PredictResult>));
  const sum = addUp(results);
  const rows = v.end - v.start;
  const figures: Validation = { val_loss: sum.loss / normaliserOf(plan.update.normalize, rows, sum.weight) };
  plan.model.task.metrics.forEach((m, i) => { figures[`val_${m.name}`] = (sum.metrics[i] ?? 0) / (sum.metricWeight || 1); });
  return figures;
}

/**
 * The workers predict the first rows of each split (forward only, in parallel, each
 * split cut into two jobs a thread): the classes into the shared predictions, and each
 * split's loss and weight sums (when the path computes them).
 */
async function predictSplits(wp: WorkerPool, steps: number, rowsOf: { train?: number; test?: number }) {
  const jobs = (Object.entries(rowsOf) as [SplitName, number][]).map(([split, rows]) => Promise.all(splitShards(rows, wp.threads.length * 2)
    .filter(([start, end]) => end > start)
    .map(([start, end]) => wp.pool.run({ kind: TASK.predict, steps, split, start, end }) as Promise<PredictResult>)));
  const sums = { train: addUp([]), test: addUp([]) };
  const done = await Promise.all(jobs);
  (Object.keys(rowsOf) as SplitName[]).forEach((split, i) => { sums[split] = addUp(done[i]); });
  return sums;
}

/** The predict jobs' sums added in the jobs' order, not in the order they finished: the same figures every run. */
function addUp(results: PredictResult[]) {
  const sum = { loss: 0, weight: 0, metrics: [] as number[], metricWeight: 0 };
  for (const r of results) {
    sum.loss += r.lossSum;
    sum.weight += r.weightSum;
    sum.metrics = r.metricSums.map((m, i) => m + (sum.metrics[i] ?? 0));
    sum.metricWeight += r.metricWeight;
  }
  return sum;
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
