// The sharded update against the serial one, end to end: runPlan, where every
// thread reduces and applies the optimiser to its slice of the parameters, must end with
// the weights, byte for byte, of a coordinator that takes each step's reduced gradient
// (oneStepGradient: one thread per worker, the same shards) and applies the optimiser to
// the whole vector itself (optimizerStep, tested against tf.train's optimisers) at the
// schedule's rate of the step: also when the workers' shards run on fewer threads, and
// for every optimiser.
import { describe, expect, it } from 'vitest';
import { closePool } from '../../src/engine/pool.js';
import { batchSlot } from '../../src/engine/shared-memory.js';
import { planShards } from '../../src/engine/shards.js';
import { oneStepGradient } from '../../src/engine/step-loops.js';
import { newOptimizerState, optimizerStep } from '../../src/optim/optimizers.js';
import { learningRateAt } from '../../src/optim/schedules.js';
import { optimizerOf, resolveConfig, lrScheduleOf } from '../../src/settings/config.js';
import { BatchOrder, scheduleOf } from '../../src/run/schedule.js';
import { planOf, runCli, startPlan, trainPlanned } from '../helpers.js';

const NUM_TRAIN = 2400;
const STEPS = 60;

async function serialReference(args: string[]): Promise<Float32Array> {
  const config = resolveConfig(args);
  // The plan's model, first weights and shared memory; the schedule, the batch order and
  // the shards (one thread per worker) are the reference's own.
  const { views, wp } = await startPlan(await planOf(config));
  const numParams = views.weights.length;
  const schedule = scheduleOf(NUM_TRAIN, config.batchSize, config.epochs, 0, STEPS);
  const order = new BatchOrder(config.seed, NUM_TRAIN, config.batchSize, schedule);
  const plan = planShards(config.batchSize, config.workers, config.deterministic ? config.microShardRows : 0);
  const optimizer = optimizerOf(config);
  const state = newOptimizerState(optimizer, numParams);
  const grad = new Float32Array(numParams);
  try {
    for (let step = 0; step < STEPS; step++) {
      order.fill(step, batchSlot(views, 0));
      await oneStepGradient(wp, views, plan, config.normalize, grad);
      if (config.clipNorm !== null) {
        // One process's clipping of the whole gradient: g * c / max(|g|, c).
        const norm = Math.sqrt(grad.reduce((a, g) => a + g * g, 0));
        if (norm > config.clipNorm) for (let i = 0; i < grad.length; i++) grad[i] *= config.clipNorm / norm;
      }
      optimizerStep({ ...optimizer, lr: learningRateAt(lrScheduleOf(config), step) }, ++state.t, grad, views.weights, state.state);
    }
  } finally {
    await closePool(wp);
  }
  return views.weights.slice();
}

describe('sharded update vs serial reduce and update', () => {
  it.each([
    ['1 worker', ['--workers', '1']],
    ['2 workers', ['--workers', '2']],
    ['4 workers on 4 threads', ['--workers', '4', '--threads', '4']],
    ['4 workers on 2 threads', ['--workers', '4', '--threads', '2']],
    ['3 workers on 2 threads, --deterministic', ['--workers', '3', '--threads', '2', '--deterministic']],
    ['3 workers, --normalize condition', ['--workers', '3', '--normalize', 'condition']],
    ['2 workers, --deterministic', ['--workers', '2', '--deterministic']],
    ['2 workers, --optimizer sgd, a piecewise schedule', ['--workers', '2', '--optimizer', 'sgd', '--lr-schedule', 'piecewise', '--boundaries', '20,40', '--lr-values', '0.1,0.05,0.01']],
    ['2 workers, --optimizer momentum --nesterov', ['--workers', '2', '--optimizer', 'momentum', '--nesterov', '--lr', '0.01']],
    ['3 workers on 2 threads, --optimizer rmsprop --centered --momentum 0.5', ['--workers', '3', '--threads', '2', '--optimizer', 'rmsprop', '--centered', '--momentum', '0.5']],
    ['2 workers, --optimizer adamax, cosine after a warm-up', ['--workers', '2', '--optimizer', 'adamax', '--lr-schedule', 'cosine', '--decay-steps', '40', '--warmup-steps', '10']],
    ['2 workers, --optimizer adagrad', ['--workers', '2', '--optimizer', 'adagrad', '--lr', '0.05']],
    ['1 worker, --clip-norm 0.05', ['--workers', '1', '--clip-norm', '0.05']],
    ['3 workers on 2 threads, --clip-norm 0.05, --optimizer momentum', ['--workers', '3', '--threads', '2', '--clip-norm', '0.05', '--optimizer', 'momentum', '--lr', '0.05']],
    ['2 workers, --optimizer adamw, exponential decay', ['--workers', '2', '--optimizer', 'adamw', '--weight-decay', '0.1', '--lr-schedule', 'exponential', '--decay-steps', '10', '--decay-rate', '0.5']],
  ])(`%s, ${STEPS} steps: the weights byte for byte`, async (_name, extra) => {
    const args = ['--batch-size', '100', '--epochs', '3', '--limit', String(NUM_TRAIN), '--seed', '5', ...extra];
    const config = resolveConfig(args);
    const r = await trainPlanned(config, { maxSteps: STEPS, evaluate: false });
    expect(r.steps).toBe(STEPS);
    const ref = await serialReference(args);
    const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    expect(bytes(r.weights).equals(bytes(ref))).toBe(true);
    // Not vacuous: the weights moved.
    const init = new Float32Array(ref.length);
    (await planOf(config)).model.init(init);
    expect(bytes(r.weights).equals(bytes(init))).toBe(false);
  }, 60_000);
});

describe('--clip-norm', () => {
  it('--deterministic with 1, 2 and 3 workers: the weights bit for bit, as one process clips the full-batch gradient; and clipping changed them', async () => {
    const run = async (workers: number, clip: boolean) => {
      const args = ['--batch-size', '96', '--limit', '1920', '--epochs', '1', '--seed', '9', '--deterministic', '--micro-shard-rows', '16', '--workers', String(workers), ...(clip ? ['--clip-norm', '0.05'] : [])];
      return (await trainPlanned(resolveConfig(args), { evaluate: false })).weights;
    };
    const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    const one = await run(1, true);
    for (const w of [2, 3]) expect(bytes(await run(w, true)).equals(bytes(one))).toBe(true);
    expect(bytes(await run(2, false)).equals(bytes(one))).toBe(false);
  }, 120_000);
});

describe('--clip-norm in the log', () => {
  it("each progress event tells the window's mean gradient norm (the full batch's, as one process computes it) and the share clipped", async () => {
    const args = ['--batch-size', '100', '--limit', '2400', '--epochs', '1', '--seed', '5', '--workers', '2', '--progress-every', '1', '--eval', 'none'];
    const loose = runCli('src/cli/train.js', [...args, '--clip-norm', '1000000']);
    expect(loose.status, loose.stderr).toBe(0);
    const progress = loose.events.filter((e) => e.event === 'progress') as { gradNorm: number; clipped: number }[];
    expect(progress).toHaveLength(24);
    expect(progress.every((p) => p.clipped === 0 && p.gradNorm > 0)).toBe(true);
    // The first step's norm: one process's reduced gradient at the first weights.
    const config = resolveConfig(args);
    const { views, wp } = await startPlan(await planOf(config));
    const grad = new Float32Array(views.weights.length);
    try {
      new BatchOrder(config.seed, 2400, 100, scheduleOf(2400, 100, 1, 0)).fill(0, batchSlot(views, 0));
      await oneStepGradient(wp, views, planShards(100, 2), config.normalize, grad);
    } finally {
      await closePool(wp);
    }
    const norm = Math.sqrt(grad.reduce((a, g) => a + g * g, 0));
    expect(Math.abs(progress[0].gradNorm - norm) / norm).toBeLessThan(1e-3);
    // Below every step's norm: every step clipped.
    const tight = runCli('src/cli/train.js', [...args, '--clip-norm', String(Math.min(...progress.map((p) => p.gradNorm)) / 2)]);
    expect((tight.events.filter((e) => e.event === 'progress') as { clipped: number }[]).every((p) => p.clipped === 1)).toBe(true);
    expect(runCli('src/cli/train.js', args).events.find((e) => e.event === 'progress')).not.toHaveProperty('gradNorm');
  }, 120_000);
});
