// The general path on the coordinator: the task's Layers model built once, checked
// against the data and the loss, its topology made canonical for the workers to
// rebuild, and its first weights seeded.
import type { Dataset } from '../../data/types.js';
import { trainRows } from '../../data/types.js';
import { scaledRows } from '../../data/pixels.js';
import { initWeights } from '../../model/layout.js';
import type { ModelSpec } from '../../model/layout.js';
import type { Config } from '../../settings/config.js';
import { buildLabelRows } from '../../task/label-rows.js';
import { planModel } from '../../task/load.js';
import { metricsForOutputs } from '../../task/metrics.js';
import type { LoadedTask } from '../../task/load.js';
import type { RunModel } from '../path.js';
import type { GeneralSettings } from './worker.js';

export async function generalModel(config: Config, data: Dataset, task: LoadedTask): Promise<RunModel> {
  const builtin = 'builtin' in task.ref;
  // Every row's label (checked), then the first two rows and labels for planModel's check of loss() and weight().
  const labels = buildLabelRows(task, data, trainRows(data, config.limit));
  const rows = Math.min(2, trainRows(data, config.limit));
  const n = data.train.inputSize;
  const x = scaledRows(data.train.images, 0, rows, n, new Float32Array(rows * n));
  const y = new Float32Array(labels.trainY, 0, rows * task.labelWidth);
  const rowShape = builtin ? [n] : data.train.shape;
  const plan = await planModel(task, config.seed, rowShape, { x, y, rows });
  const spec: ModelSpec = { inputSize: n, hidden: builtin ? config.model.hidden : [], numClasses: task.numClasses };
  const workerSettings: GeneralSettings = { task: task.ref, topology: plan.topology, mask: config.mask, seed: config.seed, weighted: config.normalize !== 'batch', classOutput: plan.classOutput };
  return {
    // A model with several outputs has a built-in metric once per output: the evaluation
    // names its figures after the metrics the workers compute.
    path: 'general', task: { ...task, metrics: metricsForOutputs(task.metrics, plan.outputs) }, spec, layout: plan.layout, topology: plan.topology, trainable: plan.trainable, classOutput: plan.classOutput,
    labelRows: { train: new Float32Array(labels.trainY), test: new Float32Array(labels.testY) },
    // The built-in task starts from the fast path's initial weights, so the two paths
    // train the same numbers from the same seed.
    init: builtin ? (out) => initWeights(plan.layout, config.seed, out) : (out) => out.set(plan.init),
    workerSettings,
  };
}
