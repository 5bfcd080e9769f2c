// The library, as a program uses it: train() against the CLI on the same settings (the
// same weights, bit for bit), typed-array data against the IDX directory it came from,
// callbacks, a caller's logger, an AbortSignal with a checkpoint and an exact resume,
// and typed errors for bad options and bad arrays. Nothing may reach stdout or stderr.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { ConfigError, DataError, train } from '../../src/index.js';
import type { SplitReport, TrainResult } from '../../src/index.js';
import { listCheckpoints, readLatestCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { PROJECT_ROOT } from '../../src/files/paths.js';
import { mnistData, runCli, tmpDir } from '../helpers.js';

const ROWS = 2560; // 20 steps an epoch at batch 128
const SETTINGS = { limit: ROWS, epochs: 2, workers: 2 } as const;

let quiet: ReturnType<typeof vi.spyOn>[];
beforeEach(() => {
  // Both streams, and the console (TF.js writes its advice with console.warn).
  quiet = [vi.spyOn(process.stdout, 'write'), vi.spyOn(process.stderr, 'write'), ...(['log', 'info', 'warn', 'error'] as const).map((m) => vi.spyOn(console, m))];
});
afterEach(() => {
  // The library writes nothing to stdout or stderr unless asked.
  for (const spy of quiet) expect(spy).not.toHaveBeenCalled();
  vi.restoreAllMocks();
});

describe('train(): which evaluation runs', () => {
  it("evaluate: 'test' with evalLimit: the test set's first rows only; 'none': eval is null and onTrainEnd hears so", async () => {
    const some = await train({ limit: 640, epochs: 1, evaluate: 'test', evalLimit: 100 });
    expect(some.eval!.train).toBeUndefined();
    expect(some.eval!.test!.rows).toBe(100);
    let ended: unknown = 'not called';
    const none = await train({ limit: 640, epochs: 1, evaluate: 'none', callbacks: { onTrainEnd: (logs) => { ended = logs.eval; } } });
    expect(none.eval).toBeNull();
    expect(ended).toBeNull();
  });
});

describe('train() with a task module', () => {
  it('writes nothing either: no TF.js advice to install tfjs-node', async () => {
    const r = await train({ task: join(PROJECT_ROOT, 'examples', 'cnn-masked.mjs'), limit: 256, batchSize: 64, epochs: 1 });
    expect(r.steps).toBe(4);
  });
});

describe('train()', () => {
  let result: TrainResult;
  const batches: number[] = [];
  const epochs: { epoch: number; loss: number }[] = [];
  let ended: { steps: number; loss: number | null } | undefined;

  it('trains with callbacks and resolves to history, the seed report, weights and layout', async () => {
    result = await train({
      ...SETTINGS,
      callbacks: {
        onBatchEnd: (step) => batches.push(step),
        onEpochEnd: (epoch, logs) => epochs.push({ epoch, loss: logs.loss }),
        onTrainEnd: (logs) => { ended = logs; },
      },
    });
    expect(result.stoppedBy).toBe(null);
    expect(result.steps).toBe(40);
    expect(batches).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(result.history.epoch).toEqual([0, 1]);
    expect(epochs.map((e) => e.epoch)).toEqual([0, 1]);
    expect(result.history.history.loss).toEqual(epochs.map((e) => e.loss));
    expect(result.history.history.loss[1]).toBeLessThan(result.history.history.loss[0]);
    expect(ended).toEqual({ steps: 40, loss: result.history.history.loss[1], eval: result.eval });
    expect(result.eval!.train!.rows).toBe(ROWS);
    expect(result.eval!.test!.rows).toBe(10_000);
    expect((result.eval!.train as SplitReport).odd.accuracy).toBeGreaterThan(0.5);
    expect((result.eval!.train as SplitReport).even.accuracy).toBe(0);
    expect(result.layout.params.map((p) => p.name)).toEqual(['dense/kernel', 'dense/bias', 'dense_1/kernel', 'dense_1/bias']);
    expect(result.weights).toHaveLength(result.layout.numParams);
  });

  it('equals the CLI on the same settings, bit for bit (the CLI is a layer over the same session)', () => {
    quiet[0].mockRestore(); // the CLI runs as a child process; nothing of it reaches ours
    const dir = tmpDir();
    const r = runCli('src/cli/train.js', ['--limit', String(ROWS), '--epochs', '2', '--workers', '2', '--checkpoint-dir', dir]);
    expect(r.status, r.stderr).toBe(0);
    const cliWeights = readFileSync(join(dir, listCheckpoints(dir).at(-1)!, 'weights.bin'));
    expect(cliWeights.equals(Buffer.from(result.weights.buffer))).toBe(true);
    quiet[0] = vi.spyOn(process.stdout, 'write');
  });

  it('typed arrays (bytes, and the same pixels as float32) train exactly as the IDX directory they came from', async () => {
    const m = mnistData();
    const split = (s: typeof m.train, n: number) => ({ images: s.images.slice(0, n * 784), labels: s.labels.slice(0, n), shape: [n, 28, 28] });
    const bytes = await train({ ...SETTINGS, data: { train: split(m.train, ROWS), test: split(m.test, m.test.count) } });
    expect(Buffer.from(bytes.weights.buffer).equals(Buffer.from(result.weights.buffer))).toBe(true);
    expect(bytes.eval).toEqual(result.eval);
    const f = (s: ReturnType<typeof split>) => ({ ...s, images: Float32Array.from(s.images, (v) => v / 255) });
    const floats = await train({ ...SETTINGS, data: { train: f(split(m.train, ROWS)), test: f(split(m.test, 100)) } });
    expect(Buffer.from(floats.weights.buffer).equals(Buffer.from(result.weights.buffer))).toBe(true);
    expect(floats.eval!.test!.rows).toBe(100);
  });

  it('an AbortSignal stops after the step in flight with a checkpoint; resuming ends bit-identical', async () => {
    const dir = tmpDir();
    const abort = new AbortController();
    const stopped = await train({ ...SETTINGS, checkpointDir: dir, signal: abort.signal, callbacks: { onBatchEnd: (step) => { if (step === 7) abort.abort(); } } });
    expect(stopped.stoppedBy).toBe('abort');
    expect(stopped.steps).toBe(7);
    expect(stopped.eval).toBe(null);
    expect(readLatestCheckpoint(dir).step).toBe(7);
    const resumed = await train({ resume: dir });
    expect(resumed.steps).toBe(40);
    expect(resumed.history.epoch).toEqual([0, 1]); // epoch 0 finished after the resume, then epoch 1
    expect(Buffer.from(resumed.weights.buffer).equals(Buffer.from(result.weights.buffer))).toBe(true);
  });

  it('an abort in onEpochEnd stops at that epoch\'s end, not steps later, and returns its history', async () => {
    const abort = new AbortController();
    const stopped = await train({ limit: 12800, epochs: 3, signal: abort.signal, callbacks: { onEpochEnd: (epoch) => { if (epoch === 0) abort.abort(); } } });
    expect(stopped.stoppedBy).toBe('abort');
    expect(stopped.steps).toBe(100); // 12,800 rows, batch 128: one epoch
    expect(stopped.history.epoch).toEqual([0]);
    expect(stopped.history.history.loss).toHaveLength(1);
  });

  it('hands every event to a caller\'s pino logger', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
    await train({ limit: 256, epochs: 1, logger: pino({ level: 'info' }, sink) });
    const events = lines.map((l) => l.event);
    for (const e of ['run_start', 'worker_ready', 'epoch_end', 'eval', 'run_end']) expect(events).toContain(e);
    expect(lines.find((l) => l.event === 'run_start')).toMatchObject({ numTrain: 256, config: { mask: 'odd', limit: 256 } });
  });
});

describe('train() refuses bad input with typed errors, before anything is written', () => {
  const BAD: [string, () => Promise<unknown>, typeof ConfigError | typeof DataError, RegExp][] = [
    ['an unknown option', () => train({ wokers: 2 } as never), ConfigError, /^train\(\): unknown option "wokers" \(allowed: workers, threads, epochs, /],
    ['workers 0', () => train({ workers: 0 }), ConfigError, /^--workers: expected an integer from 1 to 256, got 0$/],
    ['a mask that is no rule', () => train({ mask: 'prime' }), ConfigError, /^--mask: expected odd, even, all or classes=1,3,7, got "prime"$/],
    ['batch smaller than workers', () => train({ workers: 4, batchSize: 3 }), ConfigError, /^--batch-size: 3 is smaller than --workers 4/],
    ['a missing data directory', () => train({ data: { dir: '/no/such/dir' } }), DataError, /^\/no\/such\/dir: data directory not found$/],
    ['images that do not fill the shape', () => train({ data: { train: { images: new Uint8Array(100), labels: new Uint8Array(10), shape: [10, 3, 3] } } }),
      DataError, /^data\.train\.images: 100 values, shape \[10,3,3\] needs 90$/],
    ['a shape without rows', () => train({ data: { train: { images: new Uint8Array(10), labels: new Uint8Array(10), shape: [10] } } }),
      DataError, /^data\.train\.shape: expected \[N, \.\.\.\] with at least two positive integers, got \[10\]$/],
    ['labels of another count', () => train({ data: { train: { images: new Uint8Array(90), labels: new Uint8Array(9), shape: [10, 9] } } }),
      DataError, /^data\.train\.labels: 9 labels for 10 rows$/],
    ['a label outside the classes', () => train({ data: { train: { images: new Uint8Array(90), labels: Uint8Array.from({ length: 10 }, (_, i) => (i === 4 ? 12 : 1)), shape: [10, 9] } } }),
      DataError, /^data\.train\.labels: label 12 at row 4 is outside the class range 0\.\.9$/],
    ['images that are neither bytes nor float32', () => train({ data: { train: { images: new Float64Array(90) as never, labels: new Uint8Array(10), shape: [10, 9] } } }),
      DataError, /^data\.train\.images: expected a Uint8Array or a Float32Array, got Float64Array$/],
    ['a test split of another row size', () => train({
      data: { train: { images: new Uint8Array(90), labels: new Uint8Array(10), shape: [10, 9] }, test: { images: new Uint8Array(80), labels: new Uint8Array(10), shape: [10, 8] } },
    }), DataError, /^data\.test: 8 values per row, data\.train has 9$/],
  ];
  for (const [name, call, type, message] of BAD) {
    it(name, async () => {
      const error = await call().then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(type);
      expect((error as Error).message).toMatch(message);
      expect((error as { code: string }).code).toBe(type === ConfigError ? 'E_CONFIG' : 'E_DATA');
    });
  }
});
