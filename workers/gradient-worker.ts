// The Piscina entry of a step-loop thread: sets the thread up once (backend, shared
// memory, the model path's worker half), then hands every task to the engine's worker
// half (src/engine/worker-loop.ts). It does not know the pool exists.
import Piscina from 'piscina';
import { initBackend } from '../src/model/init-backend.js';
import type { LoopResult, PingResult, PredictResult, Task, WorkerInit } from '../src/engine/protocol.js';
import { viewsOf } from '../src/engine/shared-memory.js';
import { StepWorker } from '../src/engine/worker-loop.js';
import { startPathWorker } from '../src/paths/registry.js';

let worker: Promise<StepWorker> | undefined;

async function setup(): Promise<StepWorker> {
  const t0 = performance.now();
  const init = Piscina.workerData as WorkerInit | undefined;
  if (!init || typeof init !== 'object' || !init.buffers || !init.layout || !init.path) {
    throw new Error('gradient worker started without its WorkerInit in workerData');
  }
  await initBackend(init.backend);
  const views = viewsOf(init.buffers, init.layout.numParams);
  const path = await startPathWorker(init, views);
  return new StepWorker(init, views, path, performance.now() - t0);
}

export default async function run(task: Task): Promise<LoopResult | PredictResult | PingResult> {
  return (await (worker ??= setup())).run(task);
}
