// How a batch is cut into shards and the shards into step-loop threads' tasks. How a
// task's rows are gathered is its model path's (src/paths/).

/**
 * Splits [0, batchSize) into `numShards` contiguous ranges whose sizes differ by at
 * most one (the first `batchSize % numShards` shards get the extra row).
 */
export function splitShards(batchSize: number, numShards: number): [number, number][] {
  const base = Math.floor(batchSize / numShards);
  const extra = batchSize % numShards;
  const out: [number, number][] = [];
  let start = 0;
  for (let i = 0; i < numShards; i++) {
    const end = start + base + (i < extra ? 1 : 0);
    out.push([start, end]);
    start = end;
  }
  return out;
}

/**
 * One step-loop thread's part of a step: rows [start, end) of the batch, cut into
 * `parts` (contiguous row ranges, in order), each computed on its own and written to its
 * own gradient slab, `slab + j` for part j. One part is the common case: one shard per
 * thread. More: the shards of --workers above --threads, or deterministic mode's
 * micro-shards, run one after the other in the thread.
 */
export interface ShardTask {
  start: number;
  end: number;
  /** The first gradient slab this task writes. */
  slab: number;
  parts: [number, number][];
}

/** How many slabs a task writes: one per part. */
export function slabCount(t: ShardTask): number {
  return t.parts.length;
}

export interface ShardPlan {
  tasks: ShardTask[];
  /** Slabs the reduce sums, in order: one per part of every task. */
  numSlabs: number;
}

/**
 * The tasks of one step, one per step-loop thread. The batch is cut into parts whose
 * boundaries do not depend on the thread count: normal mode, one shard per worker
 * (sizes differing by at most one); deterministic mode (microRows > 0), micro-shards of
 * `microRows` rows, whose boundaries depend on neither. Each thread gets a contiguous run
 * of whole parts, and every part's gradient lands in its own slab, so the reduce adds
 * the same numbers in the same order whatever the thread count: N workers on fewer
 * threads give the weights of N threads bit for bit, and deterministic mode those of
 * any worker count. Two limits: a thread adds its parts' sample-weight sums before the
 * coordinator adds the threads' (exact in float64 for the built-in task's counts and for
 * weights of similar magnitude; weights many orders apart can differ in the last bit of
 * the normaliser); and a thread's later parts run on a model whose non-trainable state
 * (BatchNorm's moving statistics) its first part updated, which training-mode BatchNorm
 * never reads.
 */
export function planShards(batchSize: number, numWorkers: number, microRows = 0, numThreads = numWorkers): ShardPlan {
  const parts: [number, number][] = microRows > 0
    ? Array.from({ length: Math.ceil(batchSize / microRows) }, (_, m) => [m * microRows, Math.min((m + 1) * microRows, batchSize)])
    : splitShards(batchSize, numWorkers);
  // More threads than micro-shards leaves some threads no rows: no parts, no slab.
  const tasks = splitShards(parts.length, numThreads).map(([p0, p1]) => {
    const start = p0 < parts.length ? parts[p0][0] : batchSize;
    return { start, end: p1 > p0 ? parts[p1 - 1][1] : start, slab: p0, parts: parts.slice(p0, p1) };
  });
  return { tasks, numSlabs: parts.length };
}
