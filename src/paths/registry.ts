// The model paths, by name: the one place that knows which exist and which one a run
// takes. A path has a coordinator half (plan: its model, layout, first weights and what
// its workers get; src/paths/path.ts) and a worker half (PathWorker,
// src/engine/model-path.ts). The engine and the worker entry only pass names through.
import type { PathWorker } from '../engine/model-path.js';
import type { WorkerInit } from '../engine/protocol.js';
import type { SharedViews } from '../engine/shared-memory.js';
import type { Config } from '../settings/config.js';
import type { Dataset } from '../data/types.js';
import type { LoadedTask } from '../task/load.js';
import { PATH_NAMES } from './path.js';
import type { PathName, RunModel } from './path.js';
export type { PathName };

/**
 * Which path trains `task`: the built-in task on its hand-written fast path unless
 * `--engine general`; a task module always on the general path (any Layers model).
 */
export function choosePath(config: Pick<Config, 'engine'>, task: LoadedTask): PathName {
  return 'builtin' in task.ref && config.engine !== 'general' ? 'fast' : 'general';
}

/** Each path's coordinator half: the model a run trains on it, built, checked and seeded. */
const PLANS: Record<PathName, (config: Config, data: Dataset, task: LoadedTask) => Promise<RunModel>> = {
  fast: async (config, data, task) => (await import('./fast/plan.js')).planFast(config, data, task),
  general: async (config, data, task) => (await import('./general/plan.js')).generalModel(config, data, task),
};

/** The model a run trains, on the path chosen for its task. */
export function planPath(config: Config, data: Dataset, task: LoadedTask): Promise<RunModel> {
  return PLANS[choosePath(config, task)](config, data, task);
}

/** Each path's worker half, imported in a step-loop thread only when its path runs. */
const WORKERS: Record<PathName, () => Promise<(init: WorkerInit, views: SharedViews) => Promise<PathWorker>>> = {
  fast: async () => (await import('./fast/worker.js')).createFastWorker,
  general: async () => (await import('./general/worker.js')).createGeneralWorker,
};

/** The worker half of the path `init` names, set up in this thread. */
export async function startPathWorker(init: WorkerInit, views: SharedViews): Promise<PathWorker> {
  const load = WORKERS[init.path.name as PathName];
  if (!load) throw new Error(`unknown model path '${init.path.name}' (known: ${PATH_NAMES.join(', ')})`);
  return (await load())(init, views);
}
