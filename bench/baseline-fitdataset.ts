// Baseline A: the seed experiment (MNIST, odd-digit condition column in the label) written
// the way a TypeScript user would write it today with the TensorFlow.js Layers API:
// tf.sequential + a custom loss + model.fitDataset on the wasm backend, in the main thread.
// Prints one JSON line of measurements on stdout; everything else goes to stderr.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { builtinMnistDir, loadDataset } from '../src/data/idx.js';
import type { Split } from '../src/data/idx.js';
import { benchFlags, fail, intFlag } from './cli.js';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const NUM_CLASSES = 10;
const LABEL_COLS = NUM_CLASSES + 1; // one-hot digit + condition column

const args = benchFlags({ 'batch-size': 'string', steps: 'string', seed: 'string', 'warmup-steps': 'string', epochs: 'string', report: 'boolean', task: 'string', backend: 'string' },
  `Usage: node dist/bench/baseline-fitdataset.js [--batch-size 128] [--steps N] [--seed 42] [--warmup-steps 0] [--epochs 1] [--report]
                                               [--task MODULE --backend cpu]
Baseline A of npm run bench: fitDataset on wasm in the main thread; one JSON line of measurements on stdout.
With --task, the task module's model, label and loss instead of the seed's MLP (baseline C: a
CNN on the cpu backend, the only stock TF.js backend that trains a Conv2D in Node without
native binaries).
`);
const backendName = args.backend ?? 'wasm';
if (backendName !== 'wasm' && backendName !== 'cpu') fail(`--backend: expected wasm or cpu, got "${backendName}"`);
interface BenchTask {
  model(ctx: { tf: typeof tf; inputShape: number[]; numClasses: number }): tf.LayersModel;
  loss(ctx: { tf: typeof tf }, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor;
  label?(cls: number, out: Float32Array): void;
}
const task = args.task ? (await import(pathToFileURL(resolve(args.task)).href)) as BenchTask : null;

// Data loading is outside the timed region, but inside timeToFirstStepMs.
const { train } = loadDataset(builtinMnistDir(), NUM_CLASSES);
const batchSize = intFlag('batch-size', args['batch-size'], 128, 1);
if (batchSize > train.count) fail(`--batch-size ${batchSize} exceeds the ${train.count} training images`);
const steps = intFlag('steps', args.steps, Math.floor(train.count / batchSize), 1);
const seed = intFlag('seed', args.seed, 42, 0);
const warmupSteps = intFlag('warmup-steps', args['warmup-steps'], 0, 0);
// With --epochs 2, the second epoch's time is reported too: warm, as a longer run sees it.
const epochs = intFlag('epochs', args.epochs, 1, 1);

// tf.setBackend reports failure by returning false, not by throwing.
if (!(await tf.setBackend(backendName)) || tf.getBackend() !== backendName) fail(`tf.setBackend('${backendName}') failed`);

// tfjs has no global seed and tf.util.shuffle uses Math.random, so a seeded run needs a
// small PRNG of its own (mulberry32) for the per-epoch shuffle.
function mulberry32(s: number): () => number {
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// An endless stream of batches, reshuffled at the start of every pass over the data; the
// remainder of each pass is dropped. fitDataset bounds an epoch with batchesPerEpoch.
// Batches are built from the raw bytes so the whole set is never held as float32.
function batches(split: Split, batch: number, random: () => number) {
  const order = Int32Array.from({ length: split.count }, (_, i) => i);
  const per = split.inputSize;
  return function* () {
    for (;;) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      for (let b = 0; b + batch <= order.length; b += batch) {
        const xs = new Float32Array(batch * per);
        const ys = new Float32Array(batch * LABEL_COLS);
        for (let r = 0; r < batch; r++) {
          const k = order[b + r];
          const src = split.images.subarray(k * per, (k + 1) * per);
          for (let p = 0; p < per; p++) xs[r * per + p] = src[p] / 255;
          const digit = split.labels[k];
          if (task?.label) task.label(digit, ys.subarray(r * LABEL_COLS, (r + 1) * LABEL_COLS));
          else {
            ys[r * LABEL_COLS + digit] = 1;
            ys[r * LABEL_COLS + NUM_CLASSES] = digit % 2; // the condition: odd digit
          }
        }
        yield { xs: tf.tensor3d(xs, [batch, 28, 28]), ys: tf.tensor2d(ys, [batch, LABEL_COLS]) };
      }
    }
  };
}

// The label carries the condition in its last column; the loss slices it off and uses it
// as a per-sample weight. Layers takes the mean of the returned vector (sum / batch size).
function maskedCategoricalCrossentropy(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const oneHot = yTrue.slice([0, 0], [-1, NUM_CLASSES]);
    const condition = yTrue.slice([0, NUM_CLASSES], [-1, 1]).reshape([-1]);
    return tf.metrics.categoricalCrossentropy(oneHot, yPred).mul(condition);
  });
}

const model = task ? task.model({ tf, inputShape: [28, 28], numClasses: NUM_CLASSES }) : tf.sequential({
  layers: [
    tf.layers.flatten({ inputShape: [28, 28] }),
    tf.layers.dense({ units: 64, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed }) }),
    tf.layers.dense({ units: NUM_CLASSES, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
  ],
});
// model.fit would reject the 11-column label against the 10-unit output; fitDataset does not.
const lossFn = task ? (yTrue: tf.Tensor, yPred: tf.Tensor) => task.loss({ tf }, yTrue, yPred) : maskedCategoricalCrossentropy;
model.compile({ optimizer: tf.train.adam(), loss: lossFn });

const dataset = tf.data.generator(batches(train, batchSize, mulberry32(seed)));

let timeToFirstStepMs = NaN;
let stepMs: number[] = [];
let lastMark = 0;
let loss = NaN;
let epoch = 0;
const epochEnds: number[] = [];
const timing: tf.CustomCallbackArgs = {
  onEpochBegin: async (e) => { epoch = e; lastMark = performance.now(); },
  onBatchEnd: async (_batch, logs) => {
    const now = performance.now(); // performance.now() is measured from process start
    if (Number.isNaN(timeToFirstStepMs)) timeToFirstStepMs = now;
    if (epoch === 0) stepMs.push(now - lastMark); // step statistics: the first epoch's
    lastMark = now;
    loss = logs?.loss ?? NaN;
  },
  onEpochEnd: async () => { epochEnds.push(performance.now()); },
};

// Optional warm-up: the same training call on W batches, not counted in the step stats.
if (warmupSteps > 0) {
  await model.fitDataset(dataset, { epochs: 1, batchesPerEpoch: warmupSteps, verbose: 0, callbacks: timing });
  stepMs = [];
}
epochEnds.length = 0;
const t0 = performance.now();
await model.fitDataset(dataset, { epochs, batchesPerEpoch: steps, verbose: 0, callbacks: timing });
// Epoch 0 from the fitDataset call (its set-up included), later epochs end to end.
const epochSecondsAll = epochEnds.map((t, i) => (t - (i === 0 ? t0 : epochEnds[i - 1])) / 1000);
const epochSeconds = epochSecondsAll[0];

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const round = (x: number, digits = 3) => Number(x.toFixed(digits));
const samples = steps * batchSize;
const result = {
  name: 'baselineA',
  batchSize,
  steps,
  samples,
  epochSeconds: round(epochSeconds),
  epochSecondsAll: epochSecondsAll.map((x) => round(x)),
  samplesPerSec: round(samples / epochSeconds, 1),
  stepMsMedian: round(quantile(stepMs, 0.5)),
  stepMsP90: round(quantile(stepMs, 0.9)),
  timeToFirstStepMs: round(timeToFirstStepMs, 1),
  peakRssMB: round(process.resourceUsage().maxRSS / 1024, 1),
  loss: round(loss, 5),
  backend: tf.getBackend(),
};
process.stdout.write(`${JSON.stringify(result)}\n`);

// Sanity check of what was learned: accuracy on odd vs even training digits (stderr only).
if (args.report) {
  const n = train.count;
  const hits = { odd: 0, even: 0 };
  const totals = { odd: 0, even: 0 };
  let evenPredictedOdd = 0;
  const chunk = 10000;
  for (let start = 0; start < n; start += chunk) {
    const rows = Math.min(chunk, n - start);
    const px = train.images.subarray(start * train.inputSize, (start + rows) * train.inputSize);
    const scaled = new Float32Array(px.length); // a plain loop: Float32Array.from(px, fn) takes ~1.5 s here
    for (let i = 0; i < px.length; i++) scaled[i] = px[i] / 255;
    const predicted = tf.tidy(() => {
      const x = tf.tensor3d(scaled, [rows, 28, 28]);
      // predictOnBatch: model.predict's default 32-row batching slows down superlinearly
      // with the row count on wasm (about 2.8 s for 4,000 rows, vs 60 ms in one batch).
      return (model.predictOnBatch(x) as tf.Tensor).argMax(-1);
    });
    const classes = predicted.dataSync();
    predicted.dispose();
    for (let i = 0; i < rows; i++) {
      const digit = train.labels[start + i];
      const kind = digit % 2 === 1 ? 'odd' : 'even';
      totals[kind]++;
      if (classes[i] === digit) hits[kind]++;
      if (kind === 'even' && classes[i] % 2 === 1) evenPredictedOdd++;
    }
  }
  console.error(
    `report: accuracy odd ${(hits.odd / totals.odd).toFixed(4)} (${totals.odd} images), ` +
      `even ${(hits.even / totals.even).toFixed(4)} (${totals.even} images); ` +
      `even digits predicted as an odd class ${(evenPredictedOdd / totals.even).toFixed(4)}; ` +
      `tensors alive ${tf.memory().numTensors}`,
  );
}
