// The general path in a step-loop thread: the task's Layers model, rebuilt from the
// coordinator's topology, its loss differentiated by TF.js autodiff (model.ts).
import type { PartRows, PathWorker, PredictSums } from '../../engine/model-path.js';
import { TASK_FAULT } from '../../engine/protocol.js';
import type { WorkerInit } from '../../engine/protocol.js';
import { batchSlot } from '../../engine/shared-memory.js';
import type { SharedViews } from '../../engine/shared-memory.js';
import type { MaskRule } from '../../model/labels.js';
import { importTask, withSeededRandom } from '../../task/load.js';
import type { TaskRef } from '../../task/load.js';
import { gatherTaskRows } from './gather.js';
import { GeneralModel, TaskRuntimeError } from './model.js';

/** What the general path's worker half gets at start-up (WorkerInit.path.settings). */
export interface GeneralSettings {
  /** The task to import, and the topology of its model to rebuild. */
  task: TaskRef;
  topology: object;
  /** --mask, for the task's default label; --seed, for its random layers (Dropout). */
  mask: MaskRule;
  seed: number;
  /** The step's weight sum is needed (--normalize weight or condition). */
  weighted: boolean;
  /** The output has the numClasses class columns the evaluation's class report reads. */
  classOutput: boolean;
}

export async function createGeneralWorker(init: WorkerInit, views: SharedViews): Promise<PathWorker> {
  const g = init.path.settings as GeneralSettings;
  const task = await importTask(g.task, g.mask);
  const model = await GeneralModel.create(g.topology, init.layout, task, g.weighted);
  const worker = new GeneralWorker(init, views, model, g.seed, task.numClasses, g.classOutput);
  worker.warmUp();
  return worker;
}

class GeneralWorker implements PathWorker {
  private readonly x: Float32Array;
  private readonly y: Float32Array;

  constructor(
    private readonly init: WorkerInit, private readonly views: SharedViews, private readonly model: GeneralModel,
    private readonly seed: number, private readonly numClasses: number, private readonly classOutput: boolean,
  ) {
    const maxRows = batchSlot(views, 0).length;
    this.x = new Float32Array(maxRows * init.inputSize);
    this.y = new Float32Array(maxRows * init.labelWidth);
  }

  /**
   * One step on the first training row before the start-up ping counts this thread's
   * tensors: what TF.js creates once and keeps (cached constants) is in the baseline. A
   * kernel the backend lacks is named with the layer that needs it.
   */
  warmUp(): void {
    this.gather(Int32Array.of(0), 0, 1, 0);
    this.model.setWeights(this.views.weights);
    try {
      this.model.gradient(1, this.x, this.y, new Float32Array(this.init.layout.numParams));
    } catch (e) {
      const missing = this.model.explainMissingKernel(e);
      throw missing ? new Error(missing) : e;
    }
  }

  gather(indices: Int32Array, start: number, end: number, at: number): number {
    const { init } = this;
    gatherTaskRows(this.views.trainImages, this.views.trainY, indices, start, end, init.inputSize, init.labelWidth,
      this.x.subarray(at * init.inputSize), this.y.subarray(at * init.labelWidth));
    return 0; // the weight sum is the loss's (the task's weight export)
  }

  useWeights(weights: Float32Array): void {
    this.model.setWeights(weights);
  }

  release(): void {
    // The weights live in the model's variables until the next useWeights.
  }

  /**
   * The task's loss sum and gradient by TF.js autodiff, with Math.random seeded from
   * (--seed, step, first row): Dropout draws the same masks in every run, and in
   * deterministic mode whatever the worker count.
   */
  gradient(part: PartRows, slab: Float32Array): { lossSum: number; weightSum: number } {
    const seed = (this.seed ^ Math.imul(part.step + 1, 0x9e3779b1) ^ Math.imul(part.start + 1, 0x85ebca77)) >>> 0;
    const { inputSize, labelWidth } = this.init;
    try {
      return withSeededRandom(seed, () => this.model.gradient(part.rows, this.x.subarray(part.at * inputSize), this.y.subarray(part.at * labelWidth), slab));
    } catch (e) {
      // Marked so that the coordinator does not retry it: the same rows would fail again.
      if (e instanceof TaskRuntimeError) throw new TaskRuntimeError(`${TASK_FAULT}${e.message}`);
      throw e;
    }
  }

  readState(out: Float32Array): void {
    this.model.readState(out);
  }

  predict(rows: number, x: Float32Array, y: Float32Array, classes: Uint8Array): PredictSums {
    return this.model.predict(rows, x, y, this.numClasses, this.classOutput ? classes : null);
  }
}
