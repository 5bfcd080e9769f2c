// The fast path in a step-loop thread: the built-in task's MLP, forward and backward by
// hand-written gradients on raw TF.js kernels (src/model/mlp.ts), no TF.js model.
import type { PartRows, PathWorker, PredictSums } from '../../engine/model-path.js';
import { PREDICT_ROWS } from '../../engine/protocol.js';
import type { WorkerInit } from '../../engine/protocol.js';
import { batchSlot } from '../../engine/shared-memory.js';
import type { SharedViews } from '../../engine/shared-memory.js';
import { Kernels } from '../../model/kernels.js';
import type { Info } from '../../model/kernels.js';
import { argmaxRows } from '../../model/labels.js';
import { assertSameLayout, paramLayout } from '../../model/layout.js';
import type { ModelSpec } from '../../model/layout.js';
import { logitsInto, shardLossAndGradient, weightInputs } from '../../model/mlp.js';
import type { MlpInputs } from '../../model/mlp.js';
import { gatherRows } from './gather.js';

/** What the fast path's worker half gets at start-up (WorkerInit.path.settings). */
export interface FastSettings {
  spec: ModelSpec;
}

export async function createFastWorker(init: WorkerInit, views: SharedViews): Promise<PathWorker> {
  const { spec } = init.path.settings as FastSettings;
  // The worker recomputes the layout from the model spec and refuses to run if it
  // differs from the coordinator's: a silent mismatch would train garbage.
  assertSameLayout(init.layout, paramLayout(spec));
  return new FastWorker(init, views, spec);
}

class FastWorker implements PathWorker {
  /** Runs the training step's kernels without the engine (src/model/kernels.ts). */
  private readonly k = new Kernels();
  private readonly buf: MlpInputs;
  /** Views of `buf` from a part's first row on, by that row: made once per offset. */
  private readonly partBuffers = new Map<number, MlpInputs>();
  private readonly logits: Float32Array;
  private w: Info[] = [];
  private mark = 0;

  constructor(private readonly init: WorkerInit, private readonly views: SharedViews, private readonly spec: ModelSpec) {
    const maxRows = batchSlot(views, 0).length;
    this.buf = {
      x: new Float32Array(maxRows * spec.inputSize),
      xT: new Float32Array(maxRows * spec.inputSize),
      label: new Float32Array(maxRows * init.labelWidth),
    };
    this.logits = new Float32Array(PREDICT_ROWS * spec.numClasses);
  }

  gather(indices: Int32Array, start: number, end: number, at: number): number {
    const { views, init } = this;
    return gatherRows(views.trainImages, views.trainY, indices, start, end, init.inputSize, init.labelWidth, this.buffersAt(at));
  }

  /** The weights are copied into kernel inputs once per step: its parts share them (and XNNPACK packs the first layer's kernel once, not per part). */
  useWeights(weights: Float32Array): void {
    this.mark = this.k.mark();
    this.w = weightInputs(this.k, weights, this.init.layout);
  }

  release(): void {
    this.k.release(this.mark);
    this.w = [];
  }

  gradient(part: PartRows, slab: Float32Array): { lossSum: number; weightSum: number } {
    const lossSum = shardLossAndGradient(this.k, this.w, this.spec, this.init.layout, part.rows, this.buffersAt(part.at), slab);
    return { lossSum, weightSum: 0 }; // the weight sum is the gather's
  }

  readState(): void {
    // Dense layers have no non-trainable weights.
  }

  /**
   * The classes, and the masked loss of the rows from their logits as training takes it
   * (cross-entropy of the one-hot class times the condition column, from the log-softmax),
   * in float64: its sum and the conditions' sum (the validation's val_loss divides them).
   */
  predict(rows: number, x: Float32Array, y: Float32Array, classes: Uint8Array): PredictSums {
    const C = this.spec.numClasses;
    const W = this.init.labelWidth;
    const logits = this.logits;
    logitsInto(this.k, this.w, this.spec, rows, x, logits);
    argmaxRows(logits, C, classes.subarray(0, rows));
    let lossSum = 0;
    let weightSum = 0;
    for (let r = 0; r < rows; r++) {
      let max = -Infinity;
      for (let k = 0; k < C; k++) max = Math.max(max, logits[r * C + k]);
      let sumExp = 0;
      let target = 0;
      for (let k = 0; k < C; k++) {
        sumExp += Math.exp(logits[r * C + k] - max);
        target += y[r * W + k] * logits[r * C + k];
      }
      const cond = y[r * W + C];
      lossSum += cond * (max + Math.log(sumExp) - target);
      weightSum += cond;
    }
    return { lossSum, weightSum, metricSums: [], metricWeight: 0 };
  }

  private buffersAt(at: number): MlpInputs {
    let views = this.partBuffers.get(at);
    if (!views) {
      const offset = at * this.spec.inputSize;
      views = { x: this.buf.x.subarray(offset), xT: this.buf.xT.subarray(offset), label: this.buf.label.subarray(at * this.init.labelWidth) };
      this.partBuffers.set(at, views);
    }
    return views;
  }
}
