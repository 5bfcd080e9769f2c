// What the engine needs from a model path inside a step-loop thread. A path (src/paths/:
// the built-in MLP's hand-written kernels, or any Layers model through TF.js autodiff)
// implements it; the engine's worker half (worker-loop.ts) drives it and never asks
// which path runs. The coordinator's half of a path is src/paths/path.ts.

/** One part of a task's rows (src/engine/shards.ts): computed on its own, into its own slab. */
export interface PartRows {
  step: number;
  /** The part's first row in the step's batch. */
  start: number;
  rows: number;
  /** Where the part's rows were gathered: from this row of the path's buffers on. */
  at: number;
}

/** A predict's sums over its rows (the evaluation divides them). */
export interface PredictSums {
  lossSum: number;
  weightSum: number;
  metricSums: number[];
  metricWeight: number;
}

export interface PathWorker {
  /**
   * Gathers rows `indices[start..end)` of the step's batch into the path's input
   * buffers, from their row `at` on. Needs only the dataset, not the weights, so it
   * runs while other loops may still be updating theirs. Returns the rows' sample-weight
   * sum when the labels alone give it (the built-in task's condition count), else 0.
   */
  gather(indices: Int32Array, start: number, end: number, at: number): number;
  /** Takes the weights a step (or an evaluation) reads; `release` undoes what it built, also after a useWeights that threw part way. */
  useWeights(weights: Float32Array): void;
  release(): void;
  /**
   * The loss SUM over a part's gathered rows and the gradient of that sum for every
   * parameter, written into `slab` (flat, in layout order). `weightSum`: the rows'
   * sample-weight sum when the loss computes it (0 when gather gave it).
   */
  gradient(part: PartRows, slab: Float32Array): { lossSum: number; weightSum: number };
  /** The non-trainable weights (BatchNorm's moving statistics) after the last part, at their layout offsets. */
  readState(out: Float32Array): void;
  /**
   * Forward only, for the evaluation: `rows` rows of `x` (scaled pixels) with their
   * combined labels `y`: the predicted class of each into `classes` (when the model's
   * output has class columns), and the rows' loss and sample-weight sums (0 when the
   * path's evaluation does not use them), and each of the task's metrics summed over the
   * rows (weighted by its sample weights: their sum is `metricWeight`).
   */
  predict(rows: number, x: Float32Array, y: Float32Array, classes: Uint8Array): PredictSums;
}
