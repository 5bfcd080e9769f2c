// The task module contract: what a user's ES module exports so that the trainer can
// train their own TF.js Layers model with their own per-sample loss (docs/tasks.md). The built-in seed is a task of this same contract (builtin.ts).
// The trainer passes in the TF.js namespace it runs on, so a task needs no TF.js
// import of its own and works from a file outside any project.
//
// The types take TF.js's types as parameters (default: any) rather than importing them:
// the package's declarations must type-check in a project under `strict` without
// `skipLibCheck`, under TypeScript 5 and 7, and TF.js's own declarations do not (17
// errors in tfjs-core's and tfjs-layers' .d.ts under 5.9, 196 under 7.0; tested in
// test/e2e/package.test.ts). So `TaskModule` types a task's exports and their
// arguments, and `tf` and the tensors are `any`; a project that accepts skipLibCheck can
// pass TF.js's types in: `TaskModule<typeof tfc & typeof tfl, tfc.Tensor, tfl.LayersModel>`.

export interface TaskContext<TF = any> {
  /** What `@tensorflow/tfjs` users know as `tf`: tfjs-core's ops plus tfjs-layers (`tf.layers`, `tf.sequential`, ...). */
  tf: TF;
}

export interface ModelContext<TF = any> extends TaskContext<TF> {
  /** One data row's shape, e.g. [28, 28] for IDX images. */
  inputShape: number[];
  numClasses: number;
}

/** The named exports of a task module. */
export interface TaskModule<TF = any, Tensor = any, Model = any> {
  /** Builds the model (a tf.LayersModel), once, on the coordinator; every worker rebuilds it from its topology JSON. */
  model(ctx: ModelContext<TF>): Model;
  /**
   * The per-sample loss, shape [rows]; the trainer sums it over a shard and divides the
   * batch's sum once by the global normaliser. A model with several outputs passes the
   * list of them as yPred (Tensor[]), as tf.LayersModel.apply returns them.
   */
  loss(ctx: TaskContext<TF>, yTrue: Tensor, yPred: Tensor): Tensor;
  /** Columns of one combined-label row (default: numClasses one-hot + 1 condition column from --mask). */
  labelWidth?: number;
  /** Fills one combined-label row (`out`, zeroed, labelWidth long) from a data row's class. */
  label?(cls: number, out: Float32Array): void;
  /** Per-sample weights, shape [rows]: the normaliser of --normalize weight, and the eval's weighted/unweighted split. */
  weight?(ctx: TaskContext<TF>, yTrue: Tensor): Tensor;
  /** Classes of the data's integer labels and of the first output columns (default 10). */
  numClasses?: number;
  /**
   * What the evaluation reports beside the mean loss, each averaged over a split
   * (weighted by `weight` when exported): built-in names (`accuracy`, `binaryAccuracy`,
   * `mae`, `mse`), or an object of names to those or to per-sample functions.
   */
  metrics?: readonly ('accuracy' | 'binaryAccuracy' | 'mae' | 'mse')[] | Record<string, 'accuracy' | 'binaryAccuracy' | 'mae' | 'mse' | ((ctx: TaskContext<TF>, yTrue: Tensor, yPred: Tensor) => Tensor)>;
}

/** A task module that cannot be used: exit 2 at start-up, one line naming the module and the export. */
export class TaskError extends Error {
  readonly code = 'E_TASK';
}

export const TASK_EXPORTS = ['model', 'loss', 'labelWidth', 'label', 'weight', 'numClasses', 'metrics'] as const;
