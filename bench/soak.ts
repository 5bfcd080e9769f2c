// `npm run soak`: trains many epochs with 2 workers and reports, per epoch, the process
// RSS and every worker's tensor count. Both must stay flat: after the first epoch (the
// warm-up, when heaps and the wasm memory reach their working size) RSS stays within 10%
// of its value at the end of epoch 1, and tensor counts never change. Exits 1 if either grows.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../src/run/paths.js';
import { benchFlags, intFlag } from './cli.js';

const o = benchFlags({ epochs: 'string', workers: 'string', limit: 'string' }, `Usage: npm run soak -- [--epochs 20] [--workers 2] [--limit ROWS]
Trains --epochs epochs and prints RSS and every worker's tensor count per epoch; exits 1
if a tensor count changes or RSS leaves +-10% of its value after the first epoch.
`);
const limit = intFlag('limit', o.limit, 0, 1);
const args = ['--epochs', String(intFlag('epochs', o.epochs, 20, 1)), '--workers', String(intFlag('workers', o.workers, 2, 1)),
  '--progress-every', '1000000', ...(limit ? ['--limit', String(limit)] : [])];
const r = spawnSync(process.execPath, [join(PROJECT_ROOT, 'dist', 'src', 'cli', 'train.js'), ...args], { encoding: 'utf8', maxBuffer: 256 << 20 });
if (r.status !== 0) {
  process.stderr.write(`error: train ${args.join(' ')} exited ${r.status}: ${r.stderr.trim().split('\n').at(-1)}\n`);
  process.exit(1);
}
const epochs = r.stdout.split('\n').filter((l) => l.includes('"epoch_end"')).map((l) => JSON.parse(l) as { epoch: number; rssMB: number; workerTensors: number[]; seconds: number; loss: number });
const first = epochs[0];
const base = epochs[Math.min(1, epochs.length - 1)];
const lines = ['| epoch | seconds | loss | RSS MB | RSS vs end of epoch 1 | worker tensors |', '| ---: | ---: | ---: | ---: | ---: | --- |'];
let ok = true;
for (const e of epochs) {
  const flatTensors = e.workerTensors.every((n) => n === first.workerTensors[0]);
  const flatRss = e.epoch < base.epoch || Math.abs(e.rssMB / base.rssMB - 1) <= 0.1;
  ok &&= flatTensors && flatRss;
  lines.push(`| ${e.epoch} | ${e.seconds.toFixed(2)} | ${e.loss.toFixed(4)} | ${e.rssMB.toFixed(1)}${flatRss ? '' : ' (!)'} | ${((e.rssMB / base.rssMB - 1) * 100).toFixed(1)}% | ${e.workerTensors.join(', ')}${flatTensors ? '' : ' (!)'} |`);
}
const summary = { epochs: epochs.length, rssFirstEpochMB: first.rssMB, rssBaseMB: base.rssMB, rssMaxMB: Math.max(...epochs.map((e) => e.rssMB)), tensorsConstant: epochs.every((e) => e.workerTensors.every((n) => n === first.workerTensors[0])), ok };
process.stdout.write(`${lines.join('\n')}\n\n${JSON.stringify(summary)}\n`);
process.exit(ok ? 0 : 1);
