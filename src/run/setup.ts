// What a run builds before its first step: the dataset copied into shared memory with
// the weights and slabs, what each worker gets at start-up, and, after the last step,
// the evaluation by the workers.
import type { Config } from './config.js';
import type { Dataset } from '../data/idx.js';
import type { WorkerPool } from '../engine/pool.js';
import { TASK } from '../engine/protocol.js';
import { evalReport, taskReport } from '../report/eval-report.js';
import type { TaskSplitReport } from '../report/eval-report.js';
import { allocShared, sharedBytes, viewsOf } from '../engine/shared-memory.js';
import type { SharedViews } from '../engine/shared-memory.js';
import { planShards, splitShards } from '../engine/shards.js';
import * as tfc from '@tensorflow/tfjs-core';
import { firstLine } from '../task/load.js';
import { normaliserOf } from '../engine/step-loops.js';
import { tf } from '../task/tf.js';
import type { PredictResult, WorkerInit } from '../engine/protocol.js';
import type { SharedBuffers } from '../engine/shared-memory.js';
import type { RunModel } from '../paths/path.js';
import { buildLabelRows } from '../task/label-rows.js';

/**
 * The dataset's shared memory (no copy when the IDX reader already put it there), every
 * row's combined label (the plan's, or built now for a caller that loads another number
 * of rows), the weights and the slabs.
 */
export function loadShared(
  data: Dataset, numTrain: number,
  config: Pick<Config, 'workers' | 'batchSize'> & Partial<Pick<Config, 'deterministic' | 'microShardRows'>>,
  run: RunModel,
) {
  const { layout } = run;
  const buffers = allocShared({
    floatImages: data.train.images instanceof Float32Array,
    trainImages: sharedBytes(data.train.images), trainLabels: sharedBytes(data.train.labels),
    testImages: sharedBytes(data.test.images), testLabels: sharedBytes(data.test.labels),
    ...labelRowsOf(run, data, numTrain),
  }, {
    numTrain, numParams: layout.numParams, batchSize: config.batchSize,
    numSlabs: planShards(config.batchSize, config.workers, config.deterministic ? config.microShardRows : 0).numSlabs,
    numShards: config.workers, hasState: run.trainable.some((t) => !t),
  });
  const views = viewsOf(buffers, layout.numParams);
  return { model: run.spec, layout, buffers, views };
}

/** The combined-label rows: the plan's when it built them for these rows, else built now. */
function labelRowsOf(run: RunModel, data: Dataset, numTrain: number): { trainY: SharedArrayBuffer; testY: SharedArrayBuffer } {
  const { labelRows } = run;
  if (labelRows && labelRows.train.length === numTrain * run.task.labelWidth) {
    return { trainY: labelRows.train.buffer as SharedArrayBuffer, testY: labelRows.test.buffer as SharedArrayBuffer };
  }
  return buildLabelRows(run.task, data, numTrain);
}

/** Predictions by the workers (forward only, in parallel), then the seed's report. */
export async function evaluate(wp: WorkerPool, views: SharedViews, numTrain: number, numClasses: number, steps: number) {
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

/** What every worker gets once: the shared memory, the layout, the model path and its settings, and Adam's. */
export function workerInit(buffers: SharedBuffers, run: RunModel, config: Pick<Config, 'backend' | 'lr' | 'beta1' | 'beta2' | 'eps'>): WorkerInit {
  return {
    buffers, layout: run.layout, backend: config.backend, inputSize: run.spec.inputSize, labelWidth: run.task.labelWidth,
    path: { name: run.path, settings: run.workerSettings }, adam: { lr: config.lr, beta1: config.beta1, beta2: config.beta2, eps: config.eps },
  };
}

/** The ranges [start, end) of the non-trainable parameters (BatchNorm's moving statistics): after a step they take shard 0's values. */
export function stateRanges(run: RunModel): [number, number][] {
  return run.layout.params.filter((_, i) => !run.trainable[i]).map((p) => [p.offset, p.offset + p.size]);
}

/** The general path's evaluation: the workers predict, the coordinator computes the row weights and the report. */
export async function evaluateTask(wp: WorkerPool, views: SharedViews, numTrain: number, run: RunModel, normalize: Config['normalize'], steps: number) {
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
