// `npm run bench:cores`: what a second core buys on this machine, before any trainer
// overhead. The same one-shard forward and backward as `npm run bench:kernels` (its
// direct path, the workers' code), run in 1 process alone and then in N processes at
// once, alternated, medians. If N at once each run at the speed of 1 alone, N workers
// can reach N times the throughput; if each runs slower (cores that share a physical
// core, or a host that is busy), that ratio is the ceiling of any data-parallel speed-up
// here, whatever the trainer does.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { benchFlags, intFlag } from './cli.js';

const opts = benchFlags({ rows: 'string', steps: 'string', reps: 'string', procs: 'string' }, `Usage: npm run bench:cores -- [--rows 64] [--steps 1500] [--reps 3] [--procs N]
One shard's gradient (bench/kernels.ts --child direct) in 1 process alone and in --procs
processes at once (default: the cores), alternated; medians of the step time after 300
steps, and the ratio: the speed-up N cores can give at most.
`);
const rows = intFlag('rows', opts.rows, 64, 1);
const steps = intFlag('steps', opts.steps, 1500, 301);
const reps = intFlag('reps', opts.reps, 3, 1);
const procs = intFlag('procs', opts.procs, availableParallelism(), 2);
const kernels = fileURLToPath(new URL('./kernels.js', import.meta.url));

/** `n` child processes started together; each one's median step ms. */
async function together(n: number): Promise<number[]> {
  const one = () => new Promise<number>((resolve, reject) => {
    const p = spawn(process.execPath, [kernels, '--child', 'direct', '--rows', String(rows), '--steps', String(steps)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => (code === 0 ? resolve((JSON.parse(out.trim().split('\n').at(-1)!) as { medianMs: number }).medianMs) : reject(new Error(`kernels child exited ${code}: ${err.trim().split('\n').at(-1)}`))));
  });
  return Promise.all(Array.from({ length: n }, one));
}

const alone: number[] = [];
const atOnce: number[] = [];
for (let r = 0; r < reps; r++) {
  alone.push(...(await together(1)));
  const each = await together(procs);
  atOnce.push(each.reduce((s, x) => s + x, 0) / each.length);
}
const med = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
const a = med(alone);
const b = med(atOnce);
const ceiling = (procs * a) / b;
process.stdout.write(`one ${rows}-row shard's gradient, ${steps} steps per process, medians of ${reps} alternated repetitions\n\n` +
  '| processes at once | step ms (after 300) | throughput vs 1 alone |\n| ---: | ---: | ---: |\n' +
  `| 1 | ${a.toFixed(3)} | 1.00x |\n| ${procs} | ${b.toFixed(3)} | ${ceiling.toFixed(2)}x |\n\n` +
  `${procs} at once each run at ${(a / b).toFixed(2)} of the speed of 1 alone: ${ceiling.toFixed(2)}x is the most ${procs} workers can give over 1 on this shard size here.\n`);
process.stdout.write(`${JSON.stringify({ rows, steps, reps, procs, aloneMs: a, atOnceMs: b, ceiling })}\n`);
