// The general path: any tfjs-layers model and the task's own loss, differentiated by
// stock TF.js autodiff (tf.variableGrads). A worker rebuilds the model from the
// coordinator's topology JSON, so weight names and order are the same in every thread
// (docs/internals.md, engine decision 12). Per step: the shared weights go into the model's
// variables as NEW tensors (XNNPACK caches packed weights by tensor id, decision 11),
// then forward, the per-sample loss summed over the shard, backward, and every
// gradient into the slab at its layout offset. Non-trainable weights get a zero
// gradient; their new values (BatchNormalization's moving statistics) are read back by
// `readState`.
import * as tf from '@tensorflow/tfjs-core';
import { models } from '@tensorflow/tfjs-layers';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { PredictSums } from '../../engine/model-path.js';
import type { ParamLayout } from '../../model/layout.js';
import { paramView } from '../../model/layout.js';
import { fuseLayers } from '../../model/fused/index.js';
import type { LoadedTask } from '../../task/load.js';
import { firstLine, outputsOf } from '../../task/load.js';
import { metricsForOutputs } from '../../task/metrics.js';
import type { Metric } from '../../task/metrics.js';
import { tf as tfNamespace } from '../../task/tf.js';
import type { Task } from '../../task/tf.js';

/** A task export that threw or returned the wrong thing during training; the message names the export. */
export class TaskRuntimeError extends Error {}

/** What a LayerVariable is to us: its tf.Variable (`val`, protected in the types) and write(). */
interface LayerVar {
  val: tf.Variable;
  trainable: boolean;
  write(t: tf.Tensor): void;
  read(): tf.Tensor;
}

export class GeneralModel {
  private readonly vars: LayerVar[];
  private readonly trainableVars: tf.Variable[];
  private readonly inputSize: number;
  /** The task's metrics for this model's outputs (one per output for a built-in metric of a model with several). */
  private readonly metrics: Metric[];

  /** On wasm, a tensor's values are read in place from the module's heap (one copy fewer than dataSync). */
  private readonly read: (t: tf.Tensor) => Float32Array;

  private constructor(
    private readonly model: LayersModel, private readonly task: LoadedTask,
    private readonly layout: ParamLayout, readonly inputShape: number[],
    /** The step's weight sum is needed (--normalize weight or condition); else the task's weight() is not called. */
    private readonly weighted: boolean,
  ) {
    const backend = tf.engine().backend as unknown as { typedArrayFromHeap?: (t: tf.TensorInfo) => Float32Array };
    const heap = backend.typedArrayFromHeap?.bind(backend);
    this.read = heap ? (t) => heap(t) : (t) => t.dataSync() as Float32Array;
    this.vars = model.weights as unknown as LayerVar[];
    this.trainableVars = this.vars.filter((v) => v.trainable).map((v) => v.val);
    this.inputSize = inputShape.reduce((a, b) => a * b, 1);
    this.metrics = metricsForOutputs(task.metrics, outputsOf(model));
  }

  /** Rebuilds the model from its JSON; its weights must follow `layout` (the coordinator's). */
  static async create(topology: object, layout: ParamLayout, task: LoadedTask, weighted: boolean): Promise<GeneralModel> {
    const model = await models.modelFromJSON(topology as never);
    const names = model.weights.map((w) => `${w.originalName ?? w.name}[${w.shape}]`).join();
    const expected = layout.params.map((p) => `${p.name}[${p.shape}]`).join();
    if (names !== expected) throw new Error(`parameter layout mismatch: coordinator ${expected}, worker ${names}`);
    fuseLayers(model);
    return new GeneralModel(model, task, layout, model.inputs[0].shape.slice(1) as number[], weighted);
  }

  /**
   * A step failed for a kernel the backend lacks ("Kernel 'X' not registered for
   * backend 'wasm'"): which layer needs it, found by running each layer alone, forward
   * and backward, on zeros of its input shape. Null when `e` is another error.
   */
  explainMissingKernel(e: unknown): string | null {
    const m = /Kernel '(\w+)' not registered for backend '(\w+)'/.exec(e instanceof Error ? e.message : String(e));
    if (!m) return null;
    const [, kernel, backend] = m;
    const fix = `${this.task.name}: layer %s needs the kernel '${kernel}', which the ${backend} backend does not have (--backend cpu has every kernel, slowly)`;
    for (const layer of this.model.layers) {
      let shape: unknown;
      try {
        shape = (layer.input as { shape?: unknown }).shape; // throws for a layer with several inputs
      } catch {
        continue;
      }
      if (!Array.isArray(shape) || shape.some((d) => Array.isArray(d))) continue; // several inputs: not probed alone
      try {
        tf.tidy(() => {
          const x = tf.zeros((shape as (number | null)[]).map((d) => d ?? 2));
          const run = (input: tf.Tensor) => tf.sum(layer.apply(input, { training: true }) as tf.Tensor) as tf.Scalar;
          const vars = (layer.trainableWeights as unknown as LayerVar[]).map((v) => v.val);
          if (vars.length > 0) tf.variableGrads(() => run(x), vars);
          tf.grad(run)(x);
        });
      } catch (err) {
        if ((err instanceof Error ? err.message : String(err)).includes(`Kernel '${kernel}'`)) return fix.replace('%s', `${layer.name} (${layer.getClassName()})`);
      }
    }
    return fix.replace('layer %s', 'its loss or weight export (no layer alone does)');
  }

  /** The shared weights into the variables, as new tensors (the old ones are freed by assign). */
  setWeights(flat: Float32Array): void {
    tf.tidy(() => {
      this.layout.params.forEach((p, i) => this.vars[i].write(tf.tensor(paramView(flat, p), p.shape)));
    });
  }

  /**
   * The loss SUM of `rows` rows (x: [rows, ...inputShape] flat, y: [rows, labelWidth])
   * and its gradient for every parameter, into `slab` in layout order. Returns the loss
   * sum and the weight sum (rows when the task has no weight export).
   */
  gradient(rows: number, x: Float32Array, y: Float32Array, slab: Float32Array): { lossSum: number; weightSum: number } {
    return tf.tidy(() => {
      const { xt, yt } = this.inputs(rows, x, y);
      const weightSum = this.weightSum(yt, rows);
      const { value, grads } = tf.variableGrads(() => {
        const pred = this.model.apply(xt, { training: true }) as tf.Tensor | tf.Tensor[];
        return tf.sum(this.lossOf(yt, pred, rows)) as tf.Scalar;
      }, this.trainableVars);
      this.layout.params.forEach((p, i) => {
        const v = this.vars[i];
        // A trainable weight the loss does not reach has no gradient: zero, as Keras.
        const g = v.trainable ? grads[v.val.name] : undefined;
        if (g) slab.set(this.read(g), p.offset);
        else paramView(slab, p).fill(0);
      });
      return { lossSum: value.dataSync()[0], weightSum };
    });
  }

  /** The non-trainable weights as they are now (after a training forward pass) into `out`, at their offsets. */
  readState(out: Float32Array): void {
    this.layout.params.forEach((p, i) => {
      if (!this.vars[i].trainable) out.set(this.vars[i].read().dataSync() as Float32Array, p.offset);
    });
  }

  /**
   * Inference on `rows` rows: the rows' loss and weight sums; each metric's sum over the
   * rows, weighted by the task's sample weights when it exports `weight`, and those
   * weights' sum (`metricWeight`, the rows without); and, when the output has class
   * columns (`classes` given), the first `numClasses` output columns' argmax into `classes`.
   */
  predict(rows: number, x: Float32Array, y: Float32Array, numClasses: number, classes: Uint8Array | null): PredictSums {
    return tf.tidy(() => {
      const { xt, yt } = this.inputs(rows, x, y);
      // The list of outputs of a model with several: the loss and the metrics get it as it is.
      const pred = this.model.apply(xt, { training: false }) as tf.Tensor | tf.Tensor[];
      const first = Array.isArray(pred) ? pred[0] : pred;
      if (classes) classes.set(tf.argMax(tf.slice(first, [0, 0], [-1, numClasses]), 1).dataSync());
      const w = this.metrics.length > 0 ? this.sampleWeights(yt, rows) : null;
      const metricSums = this.metrics.map((m) => {
        let v: tf.Tensor;
        try {
          v = m.fn({ tf: tfNamespace }, yt, pred);
        } catch (e) {
          throw new TaskRuntimeError(`${this.task.name}: metric "${m.name}" threw: ${firstLine(e)}`);
        }
        return tf.sum(w ? tf.mul(v, w) : v).dataSync()[0];
      });
      return {
        lossSum: tf.sum(this.lossOf(yt, pred, rows)).dataSync()[0], weightSum: this.weightSum(yt, rows),
        metricSums, metricWeight: w ? tf.sum(w).dataSync()[0] : rows,
      };
    });
  }

  /** The task's sample weights of the rows (its weight export), or null without one. */
  private sampleWeights(yt: tf.Tensor, rows: number): tf.Tensor | null {
    const fn = (this.task.module as Task).weight;
    if (!fn) return null;
    const w = fn({ tf: tfNamespace }, yt);
    if (!(w instanceof tf.Tensor) || w.shape.length !== 1 || w.shape[0] !== rows) {
      throw new TaskRuntimeError(`${this.task.name}: export "weight" returned shape [${(w as tf.Tensor | undefined)?.shape}] for ${rows} rows; expected [${rows}]`);
    }
    return w;
  }

  private inputs(rows: number, x: Float32Array, y: Float32Array) {
    const w = this.task.labelWidth;
    return {
      xt: tf.tensor(x.subarray(0, rows * this.inputSize), [rows, ...this.inputShape]),
      yt: tf.tensor2d(y.subarray(0, rows * w), [rows, w]),
    };
  }

  private lossOf(yt: tf.Tensor, pred: tf.Tensor | tf.Tensor[], rows: number): tf.Tensor {
    let l: tf.Tensor;
    try {
      l = (this.task.module as Task).loss({ tf: tfNamespace }, yt, pred as tf.Tensor);
    } catch (e) {
      throw new TaskRuntimeError(`${this.task.name}: export "loss" threw: ${firstLine(e)}`);
    }
    if (!(l instanceof tf.Tensor) || l.shape.length !== 1 || l.shape[0] !== rows) {
      throw new TaskRuntimeError(`${this.task.name}: export "loss" returned shape [${(l as tf.Tensor | undefined)?.shape}] for ${rows} rows; expected [${rows}]`);
    }
    return l;
  }

  private weightSum(yt: tf.Tensor, rows: number): number {
    const fn = (this.task.module as Task).weight;
    if (!fn || !this.weighted) return rows;
    let w: tf.Tensor;
    try {
      w = fn({ tf: tfNamespace }, yt);
    } catch (e) {
      throw new TaskRuntimeError(`${this.task.name}: export "weight" threw: ${firstLine(e)}`);
    }
    if (!(w instanceof tf.Tensor) || w.shape.length !== 1 || w.shape[0] !== rows) {
      throw new TaskRuntimeError(`${this.task.name}: export "weight" returned shape [${(w as tf.Tensor | undefined)?.shape}] for ${rows} rows; expected [${rows}]`);
    }
    return tf.sum(w).dataSync()[0];
  }
}
