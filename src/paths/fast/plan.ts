// The fast path on the coordinator: the built-in task's Dense stack from the config,
// its layout, its label rows and its seeded Glorot-uniform first weights. No TF.js
// model is built.
import type { Dataset } from '../../data/types.js';
import { trainRows } from '../../data/types.js';
import { buildLabelRows } from '../../task/label-rows.js';
import { ConfigError } from '../../settings/config.js';
import type { Config } from '../../settings/config.js';
import { initWeights, paramLayout } from '../../model/layout.js';
import type { ModelSpec } from '../../model/layout.js';
import type { LoadedTask } from '../../task/load.js';
import type { RunModel } from '../path.js';
import type { FastSettings } from './worker.js';

/** The built-in task (taskOf's) on the fast path; data that brings its own combined labels is refused. */
export async function planFast(config: Config, data: Dataset, task: LoadedTask): Promise<RunModel> {
  if (data.train.labelRows) throw new ConfigError(`--data ${data.dir}: its labels are combined rows of ${data.train.labelRows.width} columns; the built-in task's fast path builds its own from --mask (use --engine general, or a task module)`);
  const spec: ModelSpec = { inputSize: data.train.inputSize, hidden: config.model.hidden, numClasses: config.model.numClasses };
  const layout = paramLayout(spec);
  // The label rows ([one-hot | --mask condition]) the gather copies and the evaluation reads the condition from.
  const { trainY, testY } = buildLabelRows(task, data, trainRows(data, config.limit));
  const workerSettings: FastSettings = { spec };
  return {
    path: 'fast', task, spec, layout, topology: null, trainable: layout.params.map(() => true),
    init: (out) => initWeights(layout, config.seed, out), classOutput: true,
    labelRows: { train: new Float32Array(trainY), test: new Float32Array(testY) }, workerSettings,
  };
}
