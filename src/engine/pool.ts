// The Piscina pool of step-loop threads (one task of a step each: src/engine/shards.ts),
// started and pinged once.
import { existsSync } from 'node:fs';
import { Piscina } from 'piscina';
import { hold } from './faults.js';
import type { PingResult, Task, WorkerInit } from './protocol.js';
import { TASK } from './protocol.js';
import { WORKER_FILE } from '../files/paths.js';

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
    // No resourceLimits: V8's own heap sizing. Limits (young generation 12 MB, old 64
    // MB) once stopped a slow RSS rise, but they made an allocation-heavy model's step
    // 1.6x slower (a GRU: 81-84 ms against 49-51 ms) by forcing collections, and the rise
    // was not a leak: with every thread collecting in full once an epoch (npm run soak)
    // each worker's heap stays at 13.6-13.9 MB over 30 epochs and RSS stays flat after
    // one early step (a young generation growing to its size). Without the full
    // collections V8 lets old-generation garbage build up for many epochs before a major
    // collection: RSS rises by ~0.6 MB an epoch, then falls back.
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
