// A task's metrics: per-sample functions of (yTrue, yPred), averaged over a split by the
// evaluation (weighted by the task's sample weights when it exports `weight`), as Keras'
// `metrics=[...]`. A task lists built-in ones by name or writes its own.
import * as tfc from '@tensorflow/tfjs-core';
import { TaskError } from './contract.js';
import type { TaskContext } from './contract.js';
import type { Tf } from './tf.js';

export const BUILTIN_METRICS = ['accuracy', 'binaryAccuracy', 'mae', 'mse'] as const;
export type BuiltinMetric = typeof BUILTIN_METRICS[number];

/**
 * A metric as the evaluation calls it: one value per row, shape [rows]. Typed loosely, as
 * contract.ts's TaskModule: the package's declarations must not need TF.js's types.
 */
export interface Metric {
  name: string;
  /** Set for a built-in metric: a model with several outputs gets it once per output (metricsForOutputs). */
  builtin?: BuiltinMetric;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  fn: (ctx: TaskContext, yTrue: any, yPred: any) => any;
}

/** yTrue's first columns, as many as the output has: the part of a combined label the output predicts. */
const predicted = (yTrue: tfc.Tensor, yPred: tfc.Tensor) => tfc.slice(yTrue, [0, 0], [-1, yPred.shape[1] ?? 1]);

/** The built-in metrics, for `numClasses` class columns. */
function builtin(name: BuiltinMetric, numClasses: number): (ctx: TaskContext<Tf>, yTrue: tfc.Tensor, yPred: tfc.Tensor) => tfc.Tensor {
  switch (name) {
    // Keras' categorical accuracy: the first numClasses columns' argmax agree.
    case 'accuracy': return (_ctx, yTrue, yPred) => tfc.cast(tfc.equal(
      tfc.argMax(tfc.slice(yTrue, [0, 0], [-1, numClasses]), 1), tfc.argMax(tfc.slice(yPred, [0, 0], [-1, numClasses]), 1)), 'float32');
    // Keras' binary accuracy: the share of output columns whose prediction > 0.5 agrees with the label.
    case 'binaryAccuracy': return (_ctx, yTrue, yPred) => tfc.mean(tfc.cast(tfc.equal(tfc.greater(yPred, 0.5), tfc.greater(predicted(yTrue, yPred), 0.5)), 'float32'), -1);
    case 'mae': return (_ctx, yTrue, yPred) => tfc.mean(tfc.abs(tfc.sub(predicted(yTrue, yPred), yPred)), -1);
    case 'mse': return (_ctx, yTrue, yPred) => tfc.mean(tfc.square(tfc.sub(predicted(yTrue, yPred), yPred)), -1);
  }
}

/**
 * A module's `metrics` export: a list of built-in names, or an object of names to
 * built-in names or functions. A problem is a TaskError naming the module and the metric.
 */
export function metricsOf(exported: unknown, taskName: string, numClasses: number): Metric[] {
  if (exported === undefined) return [];
  const bad = (what: string) => new TaskError(`${taskName}: export "metrics" ${what}`);
  const isBuiltin = (v: unknown): v is BuiltinMetric => typeof v === 'string' && (BUILTIN_METRICS as readonly string[]).includes(v);
  const entries: [string, unknown][] = Array.isArray(exported)
    ? exported.map((v) => [String(v), v])
    : typeof exported === 'object' && exported !== null ? Object.entries(exported) : [];
  if (!Array.isArray(exported) && (typeof exported !== 'object' || exported === null)) {
    throw bad(`must be a list of metric names or an object of names to metrics, got ${typeof exported}`);
  }
  return entries.map(([name, v]) => {
    if (isBuiltin(v)) return { name, builtin: v, fn: builtin(v, numClasses) };
    if (typeof v === 'function' && !Array.isArray(exported)) return { name, fn: v as Metric['fn'] };
    throw bad(`has ${JSON.stringify(name)}: ${typeof v === 'string' ? `an unknown metric (built-in: ${BUILTIN_METRICS.join(', ')})` : 'not a metric name or a function ({ tf }, yTrue, yPred) => [rows]'}`);
  });
}

/** One output of a model: its layer's name and its values per row. */
export interface OutputInfo {
  name: string;
  width: number;
  /** Of its shape [rows, ...]: 2 for [rows, n]. */
  rank: number;
}

/**
 * The metrics of a model with these outputs. One output: as they are. Several (Keras'
 * multi-output models): a function gets the list of outputs as yPred; a built-in metric
 * is computed for each output against the label columns it predicts (the outputs' targets
 * lie side by side at the start of the combined label, in output order), named
 * `<output>_<metric>` as Keras names them; `accuracy` of a 1-column output is its binary
 * accuracy, as Keras resolves it. An output of rank above 2 takes no built-in metric:
 * refused, naming it (a TaskError of `taskName`).
 */
export function metricsForOutputs(metrics: readonly Metric[], outputs: readonly OutputInfo[], taskName = 'task'): Metric[] {
  if (outputs.length <= 1) return [...metrics];
  const offsets = outputs.map((_, k) => outputs.slice(0, k).reduce((a, o) => a + o.width, 0));
  return metrics.flatMap((m) => {
    if (!m.builtin) return [m];
    return outputs.map((o, k) => {
      if (o.rank !== 2) throw new TaskError(`${taskName}: export "metrics" has "${m.name}" for output ${o.name} of rank ${o.rank}: a built-in metric takes outputs of shape [rows, n]; write it as a function ({ tf }, yTrue, yPreds) => [rows]`);
      const name = m.builtin === 'accuracy' && o.width === 1 ? 'binaryAccuracy' : m.builtin!;
      return {
        name: `${o.name}_${m.name}`, builtin: name,
        fn: (ctx: TaskContext, yTrue: tfc.Tensor, yPred: tfc.Tensor[]) => builtin(name, o.width)(ctx as TaskContext<Tf>, tfc.slice(yTrue, [0, offsets[k]], [-1, o.width]), yPred[k]),
      };
    });
  });
}
