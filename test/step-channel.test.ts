// The step loops' barriers spin before they sleep (src/engine/step-channel.ts): a stop
// stored while a loop spins ends its wait as fast as one stored while it sleeps, and a
// wait that outlasts its spin sleeps (it does not burn a core). A real worker thread
// waits on a real SharedArrayBuffer; the coordinator's side runs here.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT } from '../src/run/paths.js';
import { controlWords, CoordinatorChannel } from '../src/engine/step-channel.js';

const CHANNEL = pathToFileURL(join(PROJECT_ROOT, 'dist', 'src', 'engine', 'step-channel.js')).href;

/**
 * A thread that waits for step 0's batch (never published) with `spinMs`, and reports
 * how the wait ended, when (performance.timeOrigin + now), and the thread's own CPU time
 * over the wait (from /proc: Linux, as CI is).
 */
function waiter(control: Int32Array, spinMs: number): Promise<{ ended: string; at: number; cpuMs: number }> {
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { readFileSync } = require('node:fs');
    const cpu = () => { const f = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
    import(workerData.channel).then(({ WorkerChannel, Stopped }) => {
      const channel = new WorkerChannel(workerData.control, 1, 60000, workerData.spinMs);
      parentPort.postMessage('waiting');
      const c0 = cpu();
      let ended = 'returned';
      try { channel.waitBatch(0); } catch (e) { ended = e instanceof Stopped ? 'stopped' : e.message; }
      parentPort.postMessage({ ended, at: performance.timeOrigin + performance.now(), cpuMs: cpu() - c0 });
    });`;
  const w = new Worker(code, { eval: true, workerData: { channel: CHANNEL, control, spinMs } });
  return new Promise((resolve, reject) => {
    w.on('message', (m) => { if (m !== 'waiting') resolve(m); });
    w.on('error', reject);
  });
}

describe('barriers that spin, then sleep', () => {
  it('a stop during the spin ends the wait at once, and a stop during the sleep within the stop slice', async () => {
    for (const spinMs of [60_000, 0.5]) {
      const control = new Int32Array(new SharedArrayBuffer(4 * controlWords(1)));
      const coordinator = new CoordinatorChannel(control, 1);
      coordinator.reset(0);
      const result = waiter(control, spinMs);
      await new Promise((r) => setTimeout(r, 1000));
      const stoppedAt = performance.timeOrigin + performance.now();
      coordinator.requestStop();
      const r = await result;
      expect(r.ended).toBe('stopped');
      // Today's limit: a waiting loop sees a stop within its 50 ms slice; generous for a busy machine.
      expect(r.at - stoppedAt).toBeLessThan(1000);
      // Spinning for the whole second costs a core; spinning 0.5 ms, then sleeping, next to nothing.
      if (spinMs > 1) expect(r.cpuMs).toBeGreaterThan(100);
      else expect(r.cpuMs).toBeLessThan(200);
    }
  }, 30_000);
});
