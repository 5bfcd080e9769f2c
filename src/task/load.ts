// Loading a task module and checking it once, on the coordinator, before anything is
// written: its exports, its model (built, rebuilt from its JSON as every worker will,
// its input against the data), its loss and weight on two rows, and every label row.
// A problem is a TaskError naming the module and the export (exit 2 at start-up).
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import * as tfc from '@tensorflow/tfjs-core';
import { models } from '@tensorflow/tfjs-layers';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { Rng } from '../data/rng.js';
import { quietCpuBackend } from '../model/init-backend.js';
import type { ParamLayout, ParamSpec } from '../model/layout.js';
import { conditionOf, writeCombinedLabel } from '../model/labels.js';
import type { MaskRule } from '../model/labels.js';
import { builtinTask } from './builtin.js';
import type { BuiltinSpec } from './builtin.js';
import { TaskError } from './contract.js';
import { metricsForOutputs, metricsOf } from './metrics.js';
import type { Metric, OutputInfo } from './metrics.js';
import type { TaskModule } from './contract.js';
import type { Task } from './tf.js';
import { STOCK_CLASSES, tf } from './tf.js';
import { canonicalTopology, layersOf } from './topology.js';

/** How a worker gets the task: a module URL to import, or the built-in task's spec. */
export type TaskRef = { url: string } | { builtin: BuiltinSpec };

export interface LoadedTask {
  /** 'built-in' or the module's path, as messages name it. */
  name: string;
  ref: TaskRef;
  /** The module's exports (typed loosely here so that the package's declarations need no TF.js types; see contract.ts). */
  module: TaskModule;
  numClasses: number;
  labelWidth: number;
  /** Fills one combined-label row: the module's label(), or one-hot + the --mask condition. */
  label: (cls: number, out: Float32Array) => void;
  /** The module has its own label(): --mask does not apply to it. */
  ownLabel: boolean;
  /** The metrics the evaluation reports beside the loss (the metrics export). */
  metrics: Metric[];
}

/** A user's --task: a path (relative to the current directory) or a file: URL. */
export function taskUrl(source: string): { url: string; path: string } {
  if (source.startsWith('file:')) return { url: source, path: fileURLToPath(source) };
  const path = isAbsolute(source) ? source : resolve(source);
  return { url: pathToFileURL(path).href, path };
}

/** The built-in task for a config's model and mask. */
export function builtinLoaded(spec: BuiltinSpec): LoadedTask {
  return checkExports(builtinTask(spec), 'built-in', { builtin: spec }, spec.mask);
}

/** Imports a task module and checks its exports (not yet its model: planModel does that). */
export async function loadTask(source: string, mask: MaskRule): Promise<LoadedTask> {
  const { url, path } = taskUrl(source);
  if (!existsSync(path)) throw new TaskError(`--task ${source}: module not found`);
  // Every worker thread imports the module too, and a loader such as tsx registered on
  // the main thread does not reach Piscina's threads on Node 20 (tried: tsx 4.23 with
  // --import, the coordinator loads the file and every worker fails on it). So a
  // TypeScript task is refused up front, saying what runs, unless this Node strips types
  // itself (process.features.typescript, Node 22.6+ when enabled, in every thread).
  if (/\.[cm]?ts$/.test(path) && !(process.features as { typescript?: unknown }).typescript) {
    throw new TaskError(`--task ${source}: a TypeScript task module must be compiled to a JavaScript ES module first (tsc to a .mjs, or a .js in a "type": "module" package): every worker thread imports it, and Node ${process.versions.node} runs no TypeScript there`);
  }
  let module: Record<string, unknown>;
  try {
    module = await import(url) as Record<string, unknown>;
  } catch (e) {
    throw new TaskError(`--task ${source}: cannot load it as an ES module (${firstLine(e)})`);
  }
  return checkExports(module as unknown as TaskModule, source, { url }, mask);
}

/** The same check of a module's exports, in a worker (which imports it again). */
export async function importTask(ref: TaskRef, mask: MaskRule): Promise<LoadedTask> {
  if ('builtin' in ref) return builtinLoaded(ref.builtin);
  const module = await import(ref.url) as TaskModule;
  return checkExports(module, fileURLToPath(ref.url), ref, mask);
}

function checkExports(m: TaskModule, name: string, ref: TaskRef, mask: MaskRule): LoadedTask {
  const bad = (exp: string, what: string) => new TaskError(`${name}: export "${exp}" ${what}`);
  for (const exp of ['model', 'loss'] as const) {
    if (m[exp] === undefined) throw bad(exp, 'is missing (a task module exports model and loss; see docs/tasks.md)');
    if (typeof m[exp] !== 'function') throw bad(exp, `is not a function (it is ${typeof m[exp]})`);
  }
  for (const exp of ['label', 'weight'] as const) {
    if (m[exp] !== undefined && typeof m[exp] !== 'function') throw bad(exp, `is not a function (it is ${typeof m[exp]})`);
  }
  const numClasses = m.numClasses ?? 10;
  if (!Number.isInteger(numClasses) || numClasses < 2 || numClasses > 256) throw bad('numClasses', `must be an integer from 2 to 256, got ${JSON.stringify(m.numClasses)}`);
  // labelWidth without label: the data brings its combined labels (checked when they are read).
  if (m.label !== undefined && m.labelWidth === undefined) throw bad('labelWidth', 'is missing: a task that exports label exports labelWidth');
  const labelWidth = m.labelWidth ?? numClasses + 1;
  if (!Number.isInteger(labelWidth) || labelWidth < 1 || labelWidth > 65536) throw bad('labelWidth', `must be an integer from 1 to 65536, got ${JSON.stringify(m.labelWidth)}`);
  const label = m.label
    ? (cls: number, out: Float32Array) => m.label!(cls, out)
    : labelWidth === numClasses + 1
      ? (cls: number, out: Float32Array) => writeCombinedLabel(cls, conditionOf(cls, mask), numClasses, out, 0)
      : () => {
        throw new TaskError(`${name}: export "labelWidth" is ${labelWidth} and there is no label export: the data must bring combined labels of ${labelWidth} columns (a .npy y of [N, ${labelWidth}])`);
      };
  const metrics = metricsOf(m.metrics, name, numClasses);
  return { name, ref, module: m, numClasses, labelWidth, label, ownLabel: m.label !== undefined && !('builtin' in ref), metrics };
}

/** What the coordinator knows of a task's model once it is built and checked. */
export interface ModelPlan {
  /** The canonical topology (topology.ts) every worker rebuilds and checkpoints store. */
  topology: object;
  /** Every weight, trainable first, as model.weights orders them; names as tf.loadLayersModel matches them. */
  layout: ParamLayout;
  /** Per parameter of the layout: trainable (gets a gradient) or not (BatchNorm's moving statistics). */
  trainable: boolean[];
  /** One input row's shape as the model takes it. */
  inputShape: number[];
  /** The model's initial weights, flat, in layout order. */
  init: Float32Array;
  /** The first output's class columns can be evaluated: rank 2 with at least numClasses columns. */
  classOutput: boolean;
  /** Each output's layer name and values per row (a model may have several: the loss gets the list). */
  outputs: OutputInfo[];
}

/** A model's outputs: each one's layer name and values per row. (Typed by the fields it reads: the package's declarations import no TF.js types.) */
export function outputsOf(model: { outputs: { shape: (number | null)[] }[]; outputNames: string[] }): OutputInfo[] {
  return model.outputs.map((o, k) => ({ name: model.outputNames[k], width: o.shape.slice(1).reduce<number>((a, b) => a * (b ?? 1), 1), rank: o.shape.length }));
}

/** Runs `fn` with Math.random seeded: the initializers and layers that take no seed draw from it. */
export function withSeededRandom<T>(seed: number, fn: () => T): T {
  const original = Math.random;
  const rng = new Rng(seed);
  Math.random = () => rng.next();
  try {
    return fn();
  } finally {
    Math.random = original;
  }
}

/**
 * Builds the task's model once (initial weights seeded from --seed), makes its topology
 * canonical, rebuilds it from that JSON as a worker will, and checks it against the data
 * and the loss on two rows of `probeX` / `probeY`.
 */
export async function planModel(
  task: LoadedTask, seed: number, rowShape: number[], probe: { x: Float32Array; y: Float32Array; rows: number },
): Promise<ModelPlan> {
  await ensureBackend();
  const { name, numClasses } = task;
  let user: LayersModel;
  try {
    user = withSeededRandom(seed, () => (task.module as Task).model({ tf, inputShape: [...rowShape], numClasses }));
  } catch (e) {
    throw new TaskError(`${name}: export "model" threw: ${firstLine(e)}`);
  }
  if (!user || typeof (user as { toJSON?: unknown }).toJSON !== 'function' || !Array.isArray((user as { weights?: unknown }).weights)) {
    throw new TaskError(`${name}: export "model" must return a tf.LayersModel (tf.sequential or tf.model), got ${user === null ? 'null' : typeof user}`);
  }
  const topology = canonicalTopology(user.toJSON(null, false) as object);
  const custom = layersOf(topology as never).find((l) => !STOCK_CLASSES.has(l.class_name));
  if (custom) throw new TaskError(`${name}: export "model": layer ${custom.config.name} is of the custom class ${custom.class_name}; only stock tfjs-layers classes can be rebuilt in the workers`);
  let model: LayersModel;
  try {
    model = await models.modelFromJSON(topology as never);
  } catch (e) {
    throw new TaskError(`${name}: export "model": its topology cannot be rebuilt from JSON (${firstLine(e)})`);
  }
  try {
    if (model.inputs.length !== 1) {
      throw new TaskError(`${name}: export "model": ${model.inputs.length} inputs; the trainer feeds one input a row: concatenate the features into one row (the data's x) and give the model one tf.input, split inside by tf.layers.reshape to [1, n, 1] and a tf.layers.cropping2D per part`);
    }
    const inputShape = model.inputs[0].shape.slice(1) as number[];
    const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
    if (inputShape.some((d) => d === null) || size(inputShape) !== size(rowShape)) {
      throw new TaskError(`${name}: export "model" takes rows of shape [${inputShape}]; the data's rows are [${rowShape}] (${size(rowShape)} values)`);
    }
    const layout: ParamLayout = { params: [], numParams: 0 };
    const trainable: boolean[] = [];
    for (const w of model.weights) {
      const p: ParamSpec = { name: w.originalName ?? w.name, shape: [...w.shape] as number[], offset: layout.numParams, size: size(w.shape as number[]) };
      layout.params.push(p);
      trainable.push(w.trainable);
      layout.numParams += p.size;
    }
    if (trainable.every((t) => !t)) throw new TaskError(`${name}: export "model" has no trainable weights`);
    const constrained = constraintOf(topology);
    if (constrained) {
      throw new TaskError(`${name}: export "model": layer ${constrained} has a weight constraint; constraints are not supported (the optimiser updates the one shared copy of the weights, a constraint would act only inside each worker)`);
    }
    const init = new Float32Array(layout.numParams);
    const values = user.getWeights();
    if (values.length !== layout.params.length) throw new TaskError(`${name}: export "model": ${values.length} weights, its JSON rebuilds ${layout.params.length}`);
    values.forEach((v, i) => {
      const p = layout.params[i];
      if (v.shape.join() !== p.shape.join()) throw new TaskError(`${name}: export "model": weight ${i} has shape [${v.shape}], its JSON rebuilds ${p.name} as [${p.shape}]`);
      init.set(v.dataSync() as Float32Array, p.offset);
    });
    const outputs = outputsOf(model);
    checkLoss(task, model, inputShape, probe, metricsForOutputs(task.metrics, outputs, name));
    const out = model.outputs[0].shape;
    return { topology, layout, trainable, inputShape, init, outputs, classOutput: out.length === 2 && (out[1] ?? 0) >= numClasses };
  } finally {
    model.dispose();
    try { user.dispose(); } catch { /* a model of another TF.js copy, or already disposed */ }
  }
}

/** The first layer with a weight constraint (kernel_constraint, ...), or null. */
function constraintOf(topology: object): string | null {
  for (const l of layersOf(topology as never)) {
    const config = l.config as Record<string, unknown>;
    if (Object.keys(config).some((k) => k.endsWith('_constraint') && config[k] !== null && config[k] !== undefined)) return `${l.config.name} (${l.class_name})`;
  }
  return null;
}

/**
 * loss() and weight() on the probe rows: each must give one value per row; then the
 * gradient of the loss sum, in training mode, as the workers will take it (a loss that
 * does not reach the weights fails here, named, rather than in a worker).
 */
function checkLoss(task: LoadedTask, model: LayersModel, inputShape: number[], probe: { x: Float32Array; y: Float32Array; rows: number }, metrics: readonly Metric[]): void {
  const { rows } = probe;
  const m = task.module as Task;
  /** The export's result on the probe rows, checked to be one value per sample. */
  const perSample = (exp: string, call: () => unknown): tfc.Tensor => {
    let out: unknown;
    try {
      out = call();
    } catch (e) {
      throw new TaskError(`${task.name}: export "${exp}" threw on ${rows} rows: ${firstLine(e)}`);
    }
    if (!(out instanceof tfc.Tensor)) throw new TaskError(`${task.name}: export "${exp}" must return a tensor, got ${typeof out}`);
    if (out.shape.length !== 1 || out.shape[0] !== rows) {
      throw new TaskError(`${task.name}: export "${exp}" returned shape [${out.shape}] for ${rows} rows; expected [${rows}], one value per sample`);
    }
    return out;
  };
  tfc.tidy(() => {
    const x = tfc.tensor(probe.x.subarray(0, rows * inputShape.reduce((a, b) => a * b, 1)), [rows, ...inputShape]);
    const y = tfc.tensor2d(probe.y.subarray(0, rows * task.labelWidth), [rows, task.labelWidth]);
    if (m.weight) perSample('weight', () => m.weight!({ tf }, y));
    // Every metric on the model's output (inference; the list of outputs of a model with
    // several), as the evaluation will take it.
    const out = model.apply(x, { training: false });
    for (const metric of metrics) perSample(`metrics" metric "${metric.name}`, () => metric.fn({ tf }, y, out));
    const vars = model.trainableWeights.map((w) => (w as unknown as { val: tfc.Variable }).val);
    try {
      withSeededRandom(0, () => tfc.variableGrads(() => {
        // The list of outputs, for a model with several (the contract types one).
        const pred = model.apply(x, { training: true }) as tfc.Tensor;
        return tfc.sum(perSample('loss', () => m.loss({ tf }, y, pred))) as tfc.Scalar;
      }, vars));
    } catch (e) {
      if (e instanceof TaskError) throw e;
      throw new TaskError(`${task.name}: export "loss": its gradient cannot be taken (${firstLine(e)})`);
    }
  });
}

/** The coordinator builds models on the backend already in use, else on the cpu backend (initial values are drawn in JavaScript either way). */
async function ensureBackend(): Promise<void> {
  if ((tfc.engine() as unknown as { backendName: string | null }).backendName) return;
  await import('@tensorflow/tfjs-backend-cpu');
  quietCpuBackend();
  await tfc.setBackend('cpu');
}

export const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];
