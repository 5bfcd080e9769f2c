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
import type { SplitReport, TaskSplitReport } from '../metrics/eval.js';
import { firstLine } from '../task/load.js';
import { tf } from '../task/tf.js';
import type { Normalize } from '../optim/adam.js';
import type { Logger } from './log.js';
import type { RunPlan } from './plan.js';
import { round } from '../metrics/step-stats.js';

/** The plan's evaluation of the weights after `steps` steps, logged as the `eval` event; null when none runs. */
export async function evaluateAndLog(log: Logger, plan: RunPlan, wp: WorkerPool, views: SharedViews, steps: number): Promise<{ train: SplitReport; test: SplitReport } | null> {
  const { evaluation, model, numTrain } = plan;
  if (evaluation.kind === 'off') return null;
  if (evaluation.kind === 'skip') {
    log.info({ event: 'eval', task: model.task.name, skipped: evaluation.reason }, 'eval');
    return null;
  }
  hold('evaluating');
  const start = performance.now();
  if (evaluation.kind === 'builtin') {
    const report = await evaluate(wp, views, numTrain, model.task.numClasses, steps);
    log.info({ event: 'eval', mask: maskToString(plan.config.mask), ms: round(performance.now() - start), ...report }, 'eval');
    return report;
  }
  const report = await evaluateTask(wp, views, numTrain, model, plan.config.normalize, steps);
  log.info({ event: 'eval', task: model.task.name, ms: round(performance.now() - start), ...report }, 'eval');
  return report;
}

/** Predictions by the workers (forward only, in parallel), then the seed's report. */
async function evaluate(wp: WorkerPool, views: SharedViews, numTrain: number, numClasses: number, steps: number) {
  const numTest = views.testLabels.length;
  const jobs: Promise<unknown>[] = [];
  for (const [split, rows] of [['train', numTrain], ['test', numTest]] as const) {
    for (const [start, end] of splitShards(rows, wp.threads.length * 2)) {
      if (end > start) jobs.push(wp.pool.run({ kind: TASK.predict, steps, split, start, end }));
    }
  }
  await Promise.all(jobs);
  // The condition of each row is its combined label's last column.
  const conditions = (y: Float32Array) => Uint8Array.from({ length: y.length / (numClasses + 1) }, (_, r) => y[(r + 1) * (numClasses + 1) - 1]);
  return {
    train: evalReport(views.trainLabels, views.trainPredictions, conditions(views.trainY), numClasses),
    test: evalReport(views.testLabels, views.testPredictions, conditions(views.testY), numClasses),
  };
}

/** The general path's evaluation: the workers predict, the coordinator computes the row weights and the report. */
async function evaluateTask(wp: WorkerPool, views: SharedViews, numTrain: number, run: RunModel, normalize: Normalize, steps: number) {
  const sums = { train: { loss: 0, weight: 0 }, test: { loss: 0, weight: 0 } };
  const jobs: Promise<unknown>[] = [];
  for (const [split, rows] of [['train', numTrain], ['test', views.testLabels.length]] as const) {
    for (const [start, end] of splitShards(rows, wp.threads.length * 2)) {
      if (end <= start) continue;
      jobs.push((wp.pool.run({ kind: TASK.predict, steps, split, start, end }) as Promise<PredictResult>).then((r) => {
        sums[split].loss += r.lossSum;
        sums[split].weight += r.weightSum;
      }));
    }
  }
  await Promise.all(jobs);
  const report = (split: 'train' | 'test', labels: Uint8Array, predictions: Uint8Array, y: Float32Array): TaskSplitReport => {
    const { loss, weight } = sums[split];
    return taskReport(labels, predictions, rowWeights(run, y, labels.length), run.task.numClasses, loss / normaliserOf(normalize, labels.length, weight));
  };
  return {
    train: report('train', views.trainLabels, views.trainPredictions, views.trainY.subarray(0, numTrain * run.task.labelWidth)),
    test: report('test', views.testLabels, views.testPredictions, views.testY),
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
