// `npm run soak`: trains many epochs with 2 workers and reports, per epoch, the process
// RSS and every worker's tensor count, V8 heap in use and wasm memory. None may grow:
// tensor counts and wasm memory never change, every worker's heap stays at most 10% above
// its value at the end of epoch 1 (the first epoch is the warm-up), and RSS in the second
// half of the run stays within 5% of its highest value in the first half. Exits 1 if one
// grows. --task soaks a task module (the built-in task by default).
//
// Every thread collects its garbage in full at the end of each epoch (TRAINER_GC_STEPS,
// a test-only hook: src/engine/faults.ts), so what is measured is the memory the run
// keeps. Without it V8 lets old-generation garbage build up for many epochs before a
// major collection, and RSS rises and falls by 15% in a sawtooth whose period is longer
// than a short soak: a leak could not be told from garbage not yet collected. RSS may
// still step up once early on, by ~30 MB: a thread's V8 young generation growing to its
// size for the allocation rate (128 more 256 KB heap pages in /proc/PID/smaps; V8 caps
// it), which is why RSS is held to the first half's high, not to epoch 1.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../src/files/paths.js';
import { benchFlags, intFlag } from './cli.js';

const o = benchFlags({ epochs: 'string', workers: 'string', limit: 'string', task: 'string' }, `Usage: npm run soak -- [--epochs 20] [--workers 2] [--limit ROWS] [--task MODULE]
Trains --epochs epochs and prints RSS and every worker's tensor count, V8 heap in use and
wasm memory per epoch, each thread's garbage collected in full at every epoch's end;
exits 1 if a tensor count or wasm memory changes, a worker's heap ends an epoch more than
10% above its value after the first epoch, or RSS in the second half of the run passes
its first half's high by more than 5%.
`);
const limit = intFlag('limit', o.limit, 0, 1);
const args = ['--epochs', String(intFlag('epochs', o.epochs, 20, 1)), '--workers', String(intFlag('workers', o.workers, 2, 1)),
  '--progress-every', '1000000', ...(limit ? ['--limit', String(limit)] : []), ...(o.task ? ['--task', String(o.task)] : [])];
// The run trains MNIST (60,000 rows, or --limit) at the default batch size of 128.
const stepsPerEpoch = Math.floor((limit || 60_000) / 128);
const r = spawnSync(process.execPath, [join(PROJECT_ROOT, 'dist', 'src', 'cli', 'train.js'), ...args], {
  encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, TRAINER_GC_STEPS: String(stepsPerEpoch) },
});
if (r.status !== 0) {
  process.stderr.write(`error: train ${args.join(' ')} exited ${r.status}: ${r.stderr.trim().split('\n').at(-1)}\n`);
  process.exit(1);
}
const epochs = r.stdout.split('\n').filter((l) => l.includes('"epoch_end"')).map((l) => JSON.parse(l) as {
  epoch: number; rssMB: number; workerTensors: number[]; workerHeapMB: number[]; workerWasmMB: number[]; seconds: number; loss: number;
});
const first = epochs[0];
const base = epochs[Math.min(1, epochs.length - 1)];
const lines = ['| epoch | seconds | loss | RSS MB | RSS vs end of epoch 1 | worker tensors | worker V8 heap MB (after a full GC) | worker wasm MB |', '| ---: | ---: | ---: | ---: | ---: | --- | --- | --- |'];
let ok = true;
const half = Math.ceil(epochs.length / 2);
const firstHalfHigh = Math.max(...epochs.slice(0, half).map((e) => e.rssMB));
for (const [i, e] of epochs.entries()) {
  const flatTensors = e.workerTensors.every((n) => n === first.workerTensors[0]);
  const flatRss = i < half || e.rssMB <= firstHalfHigh * 1.05;
  const flatHeap = e.epoch < base.epoch || e.workerHeapMB.every((h, w) => h <= base.workerHeapMB[w] * 1.1);
  const flatWasm = e.workerWasmMB.every((m, w) => m === first.workerWasmMB[w]);
  ok &&= flatTensors && flatRss && flatHeap && flatWasm;
  lines.push(`| ${e.epoch} | ${e.seconds.toFixed(2)} | ${e.loss.toFixed(4)} | ${e.rssMB.toFixed(1)}${flatRss ? '' : ' (!)'} | ${((e.rssMB / base.rssMB - 1) * 100).toFixed(1)}% | ${e.workerTensors.join(', ')}${flatTensors ? '' : ' (!)'} | ${e.workerHeapMB.map((x) => x.toFixed(1)).join(', ')}${flatHeap ? '' : ' (!)'} | ${e.workerWasmMB.map((x) => x.toFixed(1)).join(', ')}${flatWasm ? '' : ' (!)'} |`);
}
const summary = {
  epochs: epochs.length, rssFirstEpochMB: first.rssMB, rssBaseMB: base.rssMB, rssFirstHalfHighMB: firstHalfHigh,
  rssSecondHalfHighMB: Math.max(...epochs.slice(half).map((e) => e.rssMB)), rssMaxMB: Math.max(...epochs.map((e) => e.rssMB)),
  workerHeapBaseMB: base.workerHeapMB, workerHeapMaxMB: base.workerHeapMB.map((_, i) => Math.max(...epochs.map((e) => e.workerHeapMB[i]))),
  tensorsConstant: epochs.every((e) => e.workerTensors.every((n) => n === first.workerTensors[0])), ok,
};
process.stdout.write(`${lines.join('\n')}\n\n${JSON.stringify(summary)}\n`);
process.exit(ok ? 0 : 1);
