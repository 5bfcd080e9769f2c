// What a run builds before its first step: the dataset copied into shared memory, the
// seeded initial weights, and, after the last step, the evaluation by the workers.
import type { Config } from './config.js';
import type { Dataset } from '../data/idx.js';
import { fillConditions } from '../model/labels.js';
import type { MaskRule } from '../model/labels.js';
import type { WorkerPool } from '../engine/pool.js';
import { TASK } from '../engine/protocol.js';
import { evalReport } from '../report/eval-report.js';
import { glorotUniform, Rng } from '../data/rng.js';
import { allocShared, sharedBytes, viewsOf } from '../engine/shared-memory.js';
import { paramLayout, paramView } from '../model/layout.js';
import type { SharedViews } from '../engine/shared-memory.js';
import type { ModelSpec, ParamLayout } from '../model/layout.js';
import { planShards, splitShards } from '../engine/shards.js';

/** The dataset's shared memory (no copy when the IDX reader already put it there), plus weights and slabs. */
export function loadShared(
  data: Dataset, numTrain: number, mask: MaskRule,
  config: Pick<Config, 'workers' | 'batchSize' | 'model'> & Partial<Pick<Config, 'deterministic' | 'microShardRows'>>,
) {
  const model: ModelSpec = { inputSize: data.train.inputSize, hidden: config.model.hidden, numClasses: config.model.numClasses };
  const layout = paramLayout(model);
  const buffers = allocShared({
    floatImages: data.train.images instanceof Float32Array,
    trainImages: sharedBytes(data.train.images), trainLabels: sharedBytes(data.train.labels),
    testImages: sharedBytes(data.test.images), testLabels: sharedBytes(data.test.labels),
  }, {
    numTrain, numParams: layout.numParams, batchSize: config.batchSize,
    numSlabs: planShards(config.batchSize, config.workers, config.deterministic ? config.microShardRows : 0).numSlabs,
    numShards: config.workers,
  });
  const views = viewsOf(buffers, layout.numParams);
  fillConditions(views.trainLabels, mask, views.trainCond);
  return { model, layout, buffers, views };
}

/** Glorot-uniform kernels and zero biases, as Keras initialises Dense layers; seeded. */
export function initWeights(layout: ParamLayout, seed: number, out: Float32Array): void {
  const rng = new Rng(seed);
  for (const p of layout.params) {
    if (p.shape.length === 2) glorotUniform(rng, p.shape[0], p.shape[1], paramView(out, p));
    else paramView(out, p).fill(0);
  }
}

/** Predictions by the workers (forward only, in parallel), then the seed's report. */
export async function evaluate(wp: WorkerPool, views: SharedViews, numTrain: number, numWorkers: number, mask: MaskRule, numClasses: number) {
  const numTest = views.testLabels.length;
  const jobs: Promise<unknown>[] = [];
  for (const [split, rows] of [['train', numTrain], ['test', numTest]] as const) {
    for (const [start, end] of splitShards(rows, numWorkers * 2)) {
      if (end > start) jobs.push(wp.pool.run({ kind: TASK.predict, split, start, end }));
    }
  }
  await Promise.all(jobs);
  const testCond = new Uint8Array(numTest);
  fillConditions(views.testLabels, mask, testCond);
  return {
    train: evalReport(views.trainLabels, views.trainPredictions, views.trainCond, numClasses),
    test: evalReport(views.testLabels, views.testPredictions, testCond, numClasses),
  };
}
