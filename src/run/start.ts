// What a run allocates before its first step, from its plan: the dataset and every row's
// combined label in shared memory (no copy when the reader already put them there),
// with the weights, Adam's state and the slabs; and what each worker gets at start-up.
import type { Dataset } from '../data/types.js';
import type { WorkerInit } from '../engine/protocol.js';
import { sharedBytes } from '../data/shared.js';
import { allocShared, viewsOf } from '../engine/shared-memory.js';
import type { SharedBuffers } from '../engine/shared-memory.js';
import type { RunPlan } from './plan.js';
import { stateNames } from '../optim/optimizers.js';

export function loadShared(data: Dataset, plan: RunPlan) {
  const { model } = plan;
  const buffers = allocShared({
    floatImages: data.train.images instanceof Float32Array,
    trainImages: sharedBytes(data.train.images), trainLabels: sharedBytes(data.train.labels),
    testImages: sharedBytes(data.test.images), testLabels: sharedBytes(data.test.labels),
    trainY: model.labelRows.train.buffer as SharedArrayBuffer, testY: model.labelRows.test.buffer as SharedArrayBuffer,
  }, {
    numTrain: plan.numRows, numParams: model.layout.numParams, numStates: stateNames(plan.worker.optimizer.config).length, batchSize: plan.config.batchSize,
    numSlabs: plan.shards.numSlabs, numShards: plan.config.workers, hasState: plan.update.stateRanges.length > 0,
  });
  return { buffers, views: viewsOf(buffers, model.layout.numParams) };
}

/** What every worker gets once: the plan's worker data and the shared memory. */
export function workerInit(buffers: SharedBuffers, plan: RunPlan): WorkerInit {
  return { ...plan.worker, buffers };
}
