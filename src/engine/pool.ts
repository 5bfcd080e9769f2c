// The Piscina pool of gradient workers: one thread per shard, started and pinged once.
import { existsSync } from 'node:fs';
import { Piscina } from 'piscina';
import { hold } from './faults.js';
import type { PingResult, Task, WorkerInit } from './protocol.js';
import { TASK } from './protocol.js';
import { WORKER_FILE } from '../run/paths.js';

export interface WorkerPool {
  pool: Piscina<Task, unknown>;
  /** Tensor count of a worker after set-up; every step must leave it unchanged. */
  baselineTensors: number;
  /** Set once shutdown began: tasks rejected from then on are not faults to retry. */
  closed: boolean;
  /** Each thread's answer to the start-up ping. */
  threads: PingResult[];
}

/** How long shutting the pool down may take before the caller goes on without it. */
const CLOSE_TIMEOUT_MS = 5000;

/**
 * Shuts the pool down; tasks still waiting for weights are abandoned. Bounded: a thread
 * that does not end within CLOSE_TIMEOUT_MS is left behind (the CLI exits anyway).
 */
export async function closePool(wp: WorkerPool): Promise<void> {
  wp.closed = true;
  hold('closing');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, CLOSE_TIMEOUT_MS); });
  await Promise.race([wp.pool.destroy(), timeout]);
  clearTimeout(timer);
}

/**
 * minThreads = maxThreads = numWorkers and no idle timeout: threads (and their wasm
 * instances) live for the whole run. Every thread is pinged before training so a
 * backend that fails to load stops the run at start-up, not at step 1.
 */
export async function createPool(init: WorkerInit, numWorkers: number, onPoolError: (err: Error) => void = () => undefined): Promise<WorkerPool> {
  if (!existsSync(WORKER_FILE)) throw new Error(`${WORKER_FILE} is missing: run \`npm run build\` (npm ci does it)`);
  const pool = new Piscina<Task, unknown>({
    filename: WORKER_FILE,
    minThreads: numWorkers,
    maxThreads: numWorkers,
    idleTimeout: Infinity,
    concurrentTasksPerWorker: 1,
    workerData: init,
    // A worker's JavaScript heap holds little that lives (about 9 MB after a full GC:
    // weights, batches and gradients are in shared and wasm memory), but a step
    // allocates many short-lived objects. With V8's defaults the young generation grows
    // to 32 MB and the old generation is collected so rarely that committed memory kept
    // rising by ~0.33 MB per worker per epoch (npm run soak: +20% RSS after 20 epochs).
    // These limits make V8 collect sooner: RSS levels off (the epoch_end rssMB of
    // `npm run train -- --workers 2 --epochs 40`: 180 MB after epoch 0, 193 MB by epoch
    // 20, 194 MB at epoch 39; `npm run soak` passes). Far above what a worker needs.
    resourceLimits: { maxYoungGenerationSizeMb: 12, maxOldGenerationSizeMb: 64 },
  });
  const wp: WorkerPool = { pool, baselineTensors: 0, closed: false, threads: [] };
  // Errors outside any task (a thread that dies while idle, or a replacement that fails
  // to start): nothing awaits them, so they go to the caller's log. A task they strand
  // is caught by its --step-timeout and retried. Once shutting down, results of tasks
  // abandoned in flight arrive as "unexpected message" errors: expected, not logged.
  pool.on('error', (err: Error) => {
    if (!wp.closed) onPoolError(err);
  });
  try {
    // Concurrent pings land on distinct threads once all are busy with set-up; repeat
    // until every thread has answered (a thread that answers twice was just faster).
    const seen = new Map<number, PingResult>();
    for (let round = 0; round < 20 && seen.size < numWorkers; round++) {
      const pings = await Promise.all(Array.from({ length: numWorkers }, () => pool.run({ kind: TASK.ping }) as Promise<PingResult>));
      for (const p of pings) seen.set(p.threadId, p);
    }
    if (seen.size < numWorkers) throw new Error(`only ${seen.size} of ${numWorkers} worker threads answered the start-up ping`);
    const first = [...seen.values()][0];
    for (const p of seen.values()) {
      if (p.backend !== init.backend) throw new Error(`worker thread ${p.threadId} runs backend '${p.backend}', expected '${init.backend}'`);
    }
    wp.baselineTensors = first.numTensors;
    wp.threads = [...seen.values()];
  } catch (e) {
    // A thread that cannot start (backend, layout) must not keep the process alive.
    await closePool(wp);
    throw e;
  }
  return wp;
}
