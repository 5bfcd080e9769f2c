// `npm run bench:threads -- [training flags]`: where a training run's CPU goes, epoch by
// epoch and thread by thread. It runs `train` with the given flags as a child process,
// reads every thread's CPU time from /proc/<pid>/task/*/stat every 20 ms (Linux), and
// prints, for each epoch (between the `run_start` and `epoch_end` events' times), the
// wall time and the CPU seconds of the main thread (the coordinator), of the step-loop
// threads (the `numThreads` busiest) and of the rest (V8's compiler and GC threads,
// libuv's). What it found: the seed's first epoch is slower than the next because V8
// compiles the step's JavaScript in every worker as it runs (docs/performance.md).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../src/files/paths.js';
import { fail } from './cli.js';

const args = process.argv.slice(2);
if (args.includes('--help')) {
  process.stdout.write(`Usage: npm run bench:threads -- [training flags]
Runs npm run train with the flags and prints each epoch's wall time and the CPU seconds of
the coordinator, the step-loop threads and the rest of the process's threads (Linux /proc).
`);
  process.exit(0);
}
if (!existsSync('/proc/self/task')) fail('bench:threads reads /proc/<pid>/task: Linux only');

const TICK_S = 0.01; // USER_HZ: 100 on Linux
/** Every thread's CPU seconds (user + system) now. */
function threadCpu(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
      out.set(Number(tid), (Number(fields[11]) + Number(fields[12])) * TICK_S);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

const child = spawn(process.execPath, [join(PROJECT_ROOT, 'dist', 'src', 'cli', 'main.js'), 'train', '--progress-every', '1000000', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
const samples: { at: number; cpu: Map<number, number> }[] = [];
let stdout = '';
child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
const timer = setInterval(() => samples.push({ at: Date.now(), cpu: threadCpu(child.pid!) }), 20);
const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
clearInterval(timer);
if (status !== 0) fail(`train exited ${status}`);

const events = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event: string; time: string; numThreads?: number });
const start = events.find((e) => e.event === 'run_start')!;
const bounds = [start, ...events.filter((e) => e.event === 'epoch_end')].map((e) => Date.parse(e.time));
/** The last sample at or before `t`. */
const at = (t: number) => samples.filter((s) => s.at <= t).at(-1)?.cpu ?? new Map<number, number>();
const total = new Map<number, number>();
for (const s of samples) for (const [tid, c] of s.cpu) total.set(tid, Math.max(total.get(tid) ?? 0, c));
const pid = child.pid!;
const loops = [...total.entries()].filter(([tid]) => tid !== pid).sort((a, b) => b[1] - a[1]).slice(0, start.numThreads ?? 1).map(([tid]) => tid);
const rows = bounds.slice(1).map((end, i) => {
  const a = at(bounds[i]);
  const b = at(end);
  const used = (tid: number) => (b.get(tid) ?? 0) - (a.get(tid) ?? 0);
  const all = [...new Set([...a.keys(), ...b.keys()])];
  const loopCpu = loops.map(used);
  const rest = all.filter((t) => t !== pid && !loops.includes(t)).reduce((sum, t) => sum + used(t), 0);
  return { epoch: i, wallS: (end - bounds[i]) / 1000, mainCpuS: used(pid), loopCpuS: loopCpu, restCpuS: rest };
});
const f = (x: number) => x.toFixed(2);
process.stdout.write(`| epoch | wall s | coordinator CPU s | step-loop threads CPU s | other threads CPU s |\n| ---: | ---: | ---: | --- | ---: |\n`);
for (const r of rows) process.stdout.write(`| ${r.epoch + 1} | ${f(r.wallS)} | ${f(r.mainCpuS)} | ${r.loopCpuS.map(f).join(', ')} | ${f(r.restCpuS)} |\n`);
process.stdout.write(`${JSON.stringify({ args, rows })}\n`);
