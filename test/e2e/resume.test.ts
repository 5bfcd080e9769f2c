// Checkpoints end to end, through the real CLI: SIGKILL at a random step then --resume
// ends byte-identical to an uninterrupted run; SIGINT leaves a loadable checkpoint and
// exits 130; a corrupt newest checkpoint falls back to the previous one; a changed model
// is refused.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { listCheckpoints } from '../../src/checkpoint/checkpoint.js';
import { layersModelArtifacts } from '../../src/checkpoint/layers-model.js';
import { PROJECT_ROOT } from '../../src/files/paths.js';
import { runCli, tmpDir } from '../helpers.js';

const RUN = ['--epochs', '2', '--limit', '3200', '--progress-every', '1']; // 25 steps an epoch, 50 in all

/** Starts train, waits for the progress event of `step`, then sends `signal`. */
function runAndSignal(args: string[], step: number, signal: NodeJS.Signals): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'dist/src/cli/train.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let sent = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!sent && stdout.includes(`"event":"progress","epoch":${Math.floor((step - 1) / 25)},"step":${step},`)) {
        sent = true;
        child.kill(signal);
      }
    });
    child.stderr.resume();
    child.on('exit', (code) => resolve({ code, stdout }));
  });
}

const finalWeights = (dir: string) => readFileSync(join(dir, listCheckpoints(dir).at(-1)!, 'weights.bin'));

describe('checkpoint and resume', () => {
  const reference = tmpDir();
  let referenceWeights: Buffer;

  it('an uninterrupted run checkpoints at each epoch end and at the end', () => {
    const r = runCli('src/cli/train.js', [...RUN, '--checkpoint-dir', reference]);
    expect(r.status, r.stderr).toBe(0);
    expect(listCheckpoints(reference)).toEqual(['ckpt-000000025', 'ckpt-000000050']);
    referenceWeights = finalWeights(reference);
  });

  it('SIGKILL at a random step, then --resume: weights byte-identical to the uninterrupted run', async () => {
    const dir = tmpDir();
    const killAt = 6 + Math.floor(Math.random() * 38); // anywhere from step 6 to 43
    const killed = await runAndSignal([...RUN, '--checkpoint-dir', dir, '--checkpoint-every', '4'], killAt, 'SIGKILL');
    expect(killed.code, `killed at step ${killAt}`).toBe(null);
    expect(listCheckpoints(dir).length).toBeGreaterThan(0);
    const resumed = runCli('src/cli/train.js', ['--resume', dir]);
    expect(resumed.status, resumed.stderr).toBe(0);
    const start = resumed.events.find((e) => e.event === 'run_start') as { resumedFrom: { step: number } };
    expect(start.resumedFrom.step).toBeGreaterThan(0);
    expect(start.resumedFrom.step).toBeLessThanOrEqual(killAt);
    expect(finalWeights(dir).equals(referenceWeights), `killed at step ${killAt}, resumed from ${start.resumedFrom.step}`).toBe(true);
  });

  it('SIGINT writes a checkpoint that tf.loadLayersModel loads, and exits 130', async () => {
    const dir = tmpDir();
    const r = await runAndSignal([...RUN, '--checkpoint-dir', dir], 12, 'SIGINT');
    expect(r.code).toBe(130);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const stopped = events.find((e) => e.event === 'run_stopped')!;
    expect(stopped.signal).toBe('SIGINT');
    const ckpt = events.find((e) => e.event === 'checkpoint' && e.reason === 'SIGINT')!;
    expect(ckpt.step).toBe(stopped.step);
    await tf.setBackend('cpu');
    const model = await tf.loadLayersModel(tf.io.fromMemory(layersModelArtifacts(join(dir, ckpt.checkpoint as string))));
    const p = model.predict(tf.zeros([2, 784])) as tf.Tensor;
    expect(p.shape).toEqual([2, 10]);
    const sums = await tf.sum(p, 1).data();
    for (const s of sums) expect(s).toBeCloseTo(1, 5);
    // The last event is the one written before exit: nothing was lost at exit.
    expect(events.at(-1)!.event).toBe('run_stopped');
  });

  it('SIGTERM exits 143 after a checkpoint', async () => {
    const dir = tmpDir();
    const r = await runAndSignal([...RUN, '--checkpoint-dir', dir], 8, 'SIGTERM');
    expect(r.code).toBe(143);
    expect(listCheckpoints(dir).length).toBe(1);
  });

  it('a corrupt newest checkpoint is reported and the previous one is resumed from, still ending identical', async () => {
    const dir = tmpDir();
    const killed = await runAndSignal([...RUN, '--checkpoint-dir', dir, '--checkpoint-every', '5'], 33, 'SIGKILL');
    expect(killed.code).toBe(null);
    const names = listCheckpoints(dir);
    expect(names.length).toBeGreaterThanOrEqual(2);
    const newest = names.at(-1)!;
    const file = join(dir, newest, 'weights.bin');
    const bytes = readFileSync(file);
    bytes[100] ^= 0xff;
    writeFileSync(file, bytes);
    const resumed = runCli('src/cli/train.js', ['--resume', dir]);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`warning: skipping invalid checkpoint: ${newest}/weights.bin: sha256 mismatch`);
    const invalid = resumed.events.find((e) => e.event === 'checkpoint_invalid')!;
    expect(invalid.checkpoint).toBe(newest);
    const start = resumed.events.find((e) => e.event === 'run_start') as { resumedFrom: { checkpoint: string } };
    expect(start.resumedFrom.checkpoint).toBe(names.at(-2));
    expect(finalWeights(dir).equals(referenceWeights)).toBe(true);
  });

  it('a resumed run takes what it prints from its own command line, not from the checkpoint', () => {
    const dir = tmpDir();
    const quiet = runCli('src/cli/train.js', ['--epochs', '1', '--limit', '640', '--log-level', 'warn', '--progress-every', '1', '--checkpoint-dir', dir]);
    expect(quiet.status, quiet.stderr).toBe(0);
    expect(quiet.events.find((e) => e.event === 'run_start')).toBeUndefined();
    // Resumed without --log-level: the default (info), not the checkpoint's warn.
    const resumed = runCli('src/cli/train.js', ['--resume', dir, '--epochs', '2']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.events.find((e) => e.event === 'run_start')).toMatchObject({ config: { logLevel: 'info', progressEvery: 100, epochs: 2, limit: 640 } });
    // And a level given on its command line is the one it logs at.
    const again = runCli('src/cli/train.js', ['--resume', dir, '--epochs', '3', '--log-level', 'error']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.events).toEqual([]);
  });

  it('resuming with a different model shape is refused, naming the difference; nothing is written', () => {
    const config = join(tmpDir(), 'wide.jsonc');
    writeFileSync(config, '{ "model": { "hidden": [{ "units": 128, "activation": "relu" }], "numClasses": 10 } }');
    const before = listCheckpoints(reference);
    const r = runCli('src/cli/train.js', ['--resume', reference, '--config', config]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`error: --resume ${reference}: the model differs from ckpt-000000050: dense/kernel has shape [784,64] in the checkpoint, [784,128] in the config`);
    expect(listCheckpoints(reference)).toEqual(before);
    expect(r.stdout).toBe('');
  });

  it('a fresh run into a directory that holds checkpoints is refused', () => {
    const r = runCli('src/cli/train.js', [...RUN, '--checkpoint-dir', reference]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/already holds checkpoints; continue with --resume/);
  });

  it('--resume of a directory without checkpoints exits 2 naming it', () => {
    const dir = join(tmpDir(), 'empty');
    const r = runCli('src/cli/train.js', ['--resume', dir]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`error: ${dir}: no checkpoint found`);
    expect(existsSync(dir)).toBe(false);
  });
});
