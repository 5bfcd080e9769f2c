// Which model a run trains and on which path, decided once on the coordinator: the
// built-in task on its fast path (no TF.js model is built), or any task (the built-in
// one with --engine general) through its Layers model on the general path. Also the
// checks of settings that only the built-in task understands, the seeded first weights
// and every row's combined label.
import type { Dataset } from '../data/types.js';
import { paramLayout } from '../model/layout.js';
import type { ModelSpec, ParamLayout } from '../model/layout.js';
import { builtinLoaded, loadTask, planModel } from '../task/load.js';
import { scaledRows } from '../engine/shards.js';
import type { LoadedTask } from '../task/load.js';
import { ConfigError, defaultConfig } from './config.js';
import type { Config } from './config.js';
import { DataError } from '../data/types.js';
import { glorotUniform, Rng } from '../data/rng.js';
import { paramView } from '../model/layout.js';
import { fillLabelRows } from '../task/load.js';

export interface RunModel {
  task: LoadedTask;
  engine: 'fast' | 'general';
  /** inputSize and numClasses; `hidden` only for the built-in task. */
  spec: ModelSpec;
  layout: ParamLayout;
  /** The canonical topology (general path); null on the fast path, whose checkpoints write the Dense stack. */
  topology: object | null;
  /** Per parameter: gets a gradient (false: BatchNorm's moving statistics). */
  trainable: boolean[];
  /** The initial weights, seeded. */
  init: (out: Float32Array) => void;
  /** The output has the numClasses class columns the evaluation reads. */
  classOutput: boolean;
  /** General path: every row's combined label, built (and checked) before anything is written. */
  labelRows?: { train: Float32Array; test: Float32Array };
}

/** The built-in task's spec from a config and the data's row size. */
const builtinSpec = (config: Config, inputSize: number) => ({ inputSize, hidden: config.model.hidden, numClasses: config.model.numClasses, mask: config.mask });

/** The built-in task on the fast path: what runTraining uses when it is given no model. */
export function fastModel(config: Config, inputSize: number): RunModel {
  const b = builtinSpec(config, inputSize);
  const spec: ModelSpec = { inputSize, hidden: b.hidden, numClasses: b.numClasses };
  const layout = paramLayout(spec);
  return {
    task: builtinLoaded(b), engine: 'fast', spec, layout, topology: null, trainable: layout.params.map(() => true),
    init: (out) => initWeights(layout, config.seed, out), classOutput: true,
  };
}

/** The task module of `config.task` (imported and its exports checked), or the built-in task. */
export async function taskOf(config: Config, inputSize: number): Promise<LoadedTask> {
  if (!config.task) return builtinLoaded(builtinSpec(config, inputSize));
  const task = await loadTask(config.task, config.mask);
  checkTaskSettings(config, task);
  return task;
}

/**
 * Settings only the built-in task understands are refused with a task module, naming
 * the setting; so is --normalize weight with a task that has no weight export.
 */
function checkTaskSettings(config: Config, task: LoadedTask): void {
  const defaults = defaultConfig();
  const refuse = (flag: string, why: string) => new ConfigError(`${flag}: ${why} (--task ${task.name})`);
  if (config.engine === 'fast') throw refuse('--engine fast', 'only the built-in task has the fast path; a task module trains on the general path');
  if (JSON.stringify(config.model) !== JSON.stringify(defaults.model)) throw refuse('model', "is the built-in task's model; a task module builds its own in model()");
  if (config.normalize === 'condition') throw refuse('--normalize condition', "is the built-in task's; a task module's sample weights are --normalize weight");
  if (config.normalize === 'weight' && !task.module.weight) throw refuse('--normalize weight', 'the module has no weight export');
  if (task.ownLabel && JSON.stringify(config.mask) !== JSON.stringify(defaults.mask)) throw refuse('--mask', 'fills only the default label; the module has its own label export');
}

/** The model a run trains: the fast path, or the task's model built, checked and seeded. */
export async function planRunModel(config: Config, data: Dataset, task: LoadedTask): Promise<RunModel> {
  const builtin = 'builtin' in task.ref;
  if (builtin && config.engine !== 'general') {
    if (data.train.labelRows) throw new ConfigError(`--data ${data.dir}: its labels are combined rows of ${data.train.labelRows.width} columns; the built-in task's fast path builds its own from --mask (use --engine general, or a task module)`);
    return fastModel(config, data.train.inputSize);
  }
  // Every row's label (checked), then the first two rows and labels for planModel's check of loss() and weight().
  const labels = buildLabelRows(task, data, Math.min(config.limit ?? Infinity, data.train.count));
  const rows = Math.min(2, data.train.count);
  const n = data.train.inputSize;
  const x = scaledRows(data.train.images, 0, rows, n, new Float32Array(rows * n));
  const y = new Float32Array(labels.trainY, 0, rows * task.labelWidth);
  const rowShape = builtin ? [n] : data.train.shape;
  const plan = await planModel(task, config.seed, rowShape, { x, y, rows });
  const spec: ModelSpec = { inputSize: n, hidden: builtin ? config.model.hidden : [], numClasses: task.numClasses };
  return {
    task, engine: 'general', spec, layout: plan.layout, topology: plan.topology, trainable: plan.trainable, classOutput: plan.classOutput,
    labelRows: { train: new Float32Array(labels.trainY), test: new Float32Array(labels.testY) },
    // The built-in task starts from the fast path's initial weights, so the two paths
    // train the same numbers from the same seed.
    init: builtin ? (out) => initWeights(plan.layout, config.seed, out) : (out) => out.set(plan.init),
  };
}

/** Every row's combined label by the task's label(), once, into shared memory (a TaskError names a row that fails). */
export function buildLabelRows(task: LoadedTask, data: Dataset, numTrain: number): { trainY: SharedArrayBuffer; testY: SharedArrayBuffer } {
  const w = task.labelWidth;
  const trainY = new SharedArrayBuffer(numTrain * w * 4);
  const testY = new SharedArrayBuffer(data.test.count * w * 4);
  const given = data.train.labelRows;
  if (given) {
    // Combined labels that came with the data are used as they are.
    if (given.width !== w) throw new DataError(`${data.dir ?? 'data'}: the combined labels have ${given.width} columns; ${task.name === 'built-in' ? 'the built-in task' : task.name} has labelWidth ${w}`);
    new Float32Array(trainY).set(given.values.subarray(0, numTrain * w));
    if (data.test.labelRows) new Float32Array(testY).set(data.test.labelRows.values);
    return { trainY, testY };
  }
  fillLabelRows(task, data.train.labels.subarray(0, numTrain), new Float32Array(trainY));
  fillLabelRows(task, data.test.labels, new Float32Array(testY));
  return { trainY, testY };
}

/** Glorot-uniform kernels and zero biases, as Keras initialises Dense layers; seeded. */
export function initWeights(layout: ParamLayout, seed: number, out: Float32Array): void {
  const rng = new Rng(seed);
  for (const p of layout.params) {
    if (p.shape.length === 2) glorotUniform(rng, p.shape[0], p.shape[1], paramView(out, p));
    else paramView(out, p).fill(0);
  }
}
