// The fast path on the coordinator: the built-in task's Dense stack from the config,
// its layout and its seeded Glorot-uniform first weights. No TF.js model is built.
import type { Dataset } from '../../data/types.js';
import { ConfigError } from '../../run/config.js';
import type { Config } from '../../run/config.js';
import { initWeights, paramLayout } from '../../model/layout.js';
import type { ModelSpec } from '../../model/layout.js';
import { builtinLoaded } from '../../task/load.js';
import type { RunModel } from '../path.js';
import type { FastSettings } from './worker.js';

/** The built-in task on the fast path, for a config and the data's row size. */
export function fastModel(config: Pick<Config, 'model' | 'mask' | 'seed'>, inputSize: number): RunModel {
  const spec: ModelSpec = { inputSize, hidden: config.model.hidden, numClasses: config.model.numClasses };
  const layout = paramLayout(spec);
  const workerSettings: FastSettings = { spec };
  return {
    path: 'fast', task: builtinLoaded({ ...spec, mask: config.mask }), spec, layout, topology: null, trainable: layout.params.map(() => true),
    init: (out) => initWeights(layout, config.seed, out), classOutput: true, workerSettings,
  };
}

/** The fast path's plan for a run: refuses data that brings its own combined labels. */
export async function planFast(config: Config, data: Dataset): Promise<RunModel> {
  if (data.train.labelRows) throw new ConfigError(`--data ${data.dir}: its labels are combined rows of ${data.train.labelRows.width} columns; the built-in task's fast path builds its own from --mask (use --engine general, or a task module)`);
  return fastModel(config, data.train.inputSize);
}
