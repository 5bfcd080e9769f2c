// The coordinator's half of a model path: what a run trains and how, decided once before
// anything is written (src/paths/registry.ts picks the path; its plan builds this). The
// worker's half is PathWorker (src/engine/model-path.ts).
import type { ModelSpec, ParamLayout } from '../model/layout.js';
import type { LoadedTask } from '../task/load.js';

/** The model paths a run can take (registry.ts says which does what). */
export const PATH_NAMES = ['fast', 'general'] as const;
export type PathName = typeof PATH_NAMES[number];

export interface RunModel {
  path: PathName;
  task: LoadedTask;
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
  /** Every row's combined label (the first numTrain training rows, all test rows), built and checked before anything is written, in shared memory. */
  labelRows: { train: Float32Array; test: Float32Array };
  /** What the path's worker half gets at start-up (WorkerInit.path.settings). */
  workerSettings: unknown;
}
