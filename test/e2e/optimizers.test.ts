// The optimisers and learning-rate schedules through a real run: each optimiser's
// resumed run ends byte-identical to its uninterrupted one (its state vectors and step
// count in the checkpoint, the schedule going on from the right step); progress events
// tell the schedule's rate; settings that would do nothing are refused, in one line.
// (Each rule against tf.train's: test/unit/optimizers.test.ts; sharded against serial:
// test/e2e/sharded-update.test.ts.)
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { train } from '../../src/index.js';
import type { TrainerSettings } from '../../src/index.js';
import { readLatestCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { runCli, tmpDir } from '../helpers.js';

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
// 10 steps an epoch; the resume starts at step 10, mid-schedule.
const BASE: TrainerSettings = { limit: 1280, batchSize: 128, evaluate: 'none', lrSchedule: 'cosine', decaySteps: 16, warmupSteps: 4 };

describe('every optimiser resumes exactly', () => {
  const cases: [string, TrainerSettings, number][] = [
    ['sgd', { optimizer: 'sgd', lr: 0.1 }, 0],
    ['momentum, Nesterov', { optimizer: 'momentum', lr: 0.05, useNesterov: true }, 1],
    ['rmsprop, centered', { optimizer: 'rmsprop', centered: true, momentum: 0.3 }, 3],
    ['adam', { optimizer: 'adam' }, 2],
    ['adamax', { optimizer: 'adamax', lr: 0.002 }, 2],
    ['adagrad', { optimizer: 'adagrad', lr: 0.05 }, 1],
    ['adamw', { optimizer: 'adamw', weightDecay: 0.05 }, 2],
  ];
  for (const [name, settings, vectors] of cases) {
    it(`${name}: one epoch, a checkpoint, --resume for the second: the weights of two epochs in one run, byte for byte`, async () => {
      const whole = await train({ ...BASE, ...settings, epochs: 2 });
      const dir = join(tmpDir('optim-resume-'), 'ckpt');
      await train({ ...BASE, ...settings, epochs: 1, checkpointDir: dir });
      const ckpt = readLatestCheckpoint(dir);
      expect(ckpt.optimizer.state).toHaveLength(vectors);
      expect(ckpt.optimizer.t).toBe(10);
      const resumed = await train({ resume: dir, epochs: 2 });
      expect(resumed.steps).toBe(20);
      expect(bytes(resumed.weights).equals(bytes(whole.weights))).toBe(true);
    }, 60_000);
  }

  it('resuming with another optimiser is refused, naming both', () => {
    const dir = join(tmpDir('optim-other-'), 'ckpt');
    expect(runCli('src/cli/train.js', ['--limit', '640', '--epochs', '1', '--optimizer', 'sgd', '--checkpoint-dir', dir]).status).toBe(0);
    const r = runCli('src/cli/train.js', ['--resume', dir, '--optimizer', 'adam', '--epochs', '2']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`error: --resume ${dir}: optimizer is "adam", ckpt-000000005 was trained with "sgd"\n`);
    // The accumulator of a resumed adagrad is the checkpoint's: another first value does nothing.
    const ada = join(tmpDir('optim-adagrad-'), 'ckpt');
    expect(runCli('src/cli/train.js', ['--limit', '640', '--epochs', '1', '--optimizer', 'adagrad', '--checkpoint-dir', ada]).status).toBe(0);
    const again = runCli('src/cli/train.js', ['--resume', ada, '--initial-accumulator-value', '0.5', '--epochs', '2']);
    expect(again.status).toBe(2);
    expect(again.stderr).toBe("error: --initial-accumulator-value 0.5: has no effect with --resume (the accumulator is the checkpoint's)\n");
  });
});

describe('learning-rate schedules in a run', () => {
  it('each progress event tells the rate of its last step: a warm-up, then exponential decay in stairs', () => {
    const r = runCli('src/cli/train.js', ['--limit', '1280', '--epochs', '1', '--eval', 'none', '--progress-every', '1', '--lr', '0.01',
      '--warmup-steps', '2', '--lr-schedule', 'exponential', '--decay-steps', '3', '--decay-rate', '0.5', '--staircase']);
    expect(r.status, r.stderr).toBe(0);
    const lrs = r.events.filter((e) => e.event === 'progress').map((e) => e.lr);
    expect(lrs).toEqual([0.005, 0.01, 0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.0025, 0.0025]);
  });

  it('a schedule changes the weights (not vacuous), and the default is the constant rate', async () => {
    const constant = await train({ limit: 1280, epochs: 1, evaluate: 'none' });
    const explicit = await train({ limit: 1280, epochs: 1, evaluate: 'none', lrSchedule: 'constant' });
    const cosine = await train({ limit: 1280, epochs: 1, evaluate: 'none', lrSchedule: 'cosine', decaySteps: 10 });
    expect(bytes(explicit.weights).equals(bytes(constant.weights))).toBe(true);
    expect(bytes(cosine.weights).equals(bytes(constant.weights))).toBe(false);
  });
});

describe('settings that would do nothing, or are missing, are refused in one line', () => {
  it.each([
    [['--momentum', '0.5'], 'error: --momentum: has no effect with --optimizer adam (it is momentum, rmsprop\'s)'],
    [['--optimizer', 'sgd', '--beta1', '0.8'], 'error: --beta1: has no effect with --optimizer sgd (it is adam, adamax, adamw\'s)'],
    [['--optimizer', 'adamw', '--nesterov'], 'error: --nesterov: has no effect with --optimizer adamw (it is momentum\'s)'],
    [['--decay-steps', '100'], 'error: --decay-steps: has no effect with --lr-schedule constant (it is exponential, cosine\'s)'],
    [['--lr-schedule', 'exponential', '--decay-steps', '10'], 'error: --lr-schedule exponential: needs --decay-rate X (the factor per --decay-steps steps)'],
    [['--lr-schedule', 'cosine'], 'error: --lr-schedule cosine: needs --decay-steps N (the steps to decay over)'],
    [['--lr-schedule', 'piecewise', '--boundaries', '10', '--lr-values', '0.1'], 'error: --lr-schedule piecewise: needs --boundaries S1,... and --lr-values X0,X1,... (one more rate than boundaries; got 1 boundaries and 1 rates)'],
    [['--lr-schedule', 'piecewise', '--boundaries', '10', '--lr-values', '0.1,0.01', '--lr', '0.5'], 'error: --lr 0.5: has no effect with --lr-schedule piecewise (its rates are --lr-values)'],
    [['--boundaries', '20,10', '--lr-schedule', 'piecewise', '--lr-values', '1,2,3'], 'error: --boundaries: expected a list of ascending numbers, each an integer from 0, got "20,10"'],
    [['--optimizer', 'lion'], 'error: --optimizer: expected one of sgd, momentum, rmsprop, adam, adamax, adagrad, adamw, got "lion"'],
  ])('%j', (args, message) => {
    const r = runCli('src/cli/train.js', ['--limit', '640', ...args]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`${message}\n`);
    expect(r.stdout).toBe('');
  });
});
