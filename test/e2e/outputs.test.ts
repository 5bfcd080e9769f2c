// Outputs that cannot be written, through the real CLIs: refused before any work (exit
// 2, one line naming the flag, the path and the OS reason, nothing left behind, never a
// hang), and a write that fails during a run (exit 1 naming the path and the code, a
// run_failed event with E_WRITE, no temporary directory, the previous checkpoint valid
// and a resume that ends byte-identical to an uninterrupted run).
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listCheckpoints, readLatestCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { builtinMnistDir, IDX_FILES } from '../../src/data/idx.js';
import { PROJECT_ROOT } from '../../src/files/paths.js';
import { runCli, tmpDir } from '../helpers.js';

const RUN = ['--epochs', '2', '--limit', '3200']; // 25 steps an epoch, 50 in all
/** A bad path must fail fast: a hang (the old /proc case) shows up as a time-out, status null. */
const FAST_MS = 30_000;

const finalWeights = (dir: string) => readFileSync(join(dir, listCheckpoints(dir).at(-1)!, 'weights.bin'));
const temps = (dir: string) => readdirSync(dir).filter((e) => e.startsWith('.tmp-'));

// One small trained checkpoint and its log, for the commands that need them.
const base = tmpDir('outputs-');
const ckpt = join(base, 'ckpt');
const logFile = join(base, 'run.ndjson');
const made = runCli('src/cli/train.js', ['--epochs', '1', '--limit', '256', '--checkpoint-dir', ckpt, '--log-file', logFile]);
if (made.status !== 0) throw new Error(`could not train the fixture checkpoint: ${made.stderr}`);
const images = join(builtinMnistDir(), IDX_FILES.testImages);
const aFile = join(base, 'a-file');
writeFileSync(aFile, 'x');
const dangling = join(base, 'dangling');
symlinkSync(join(base, 'no-such-target'), dangling);

/** [name, script, args, stderr, paths that must not exist afterwards] */
const BAD_OUTPUTS: [string, string, string[], RegExp, string[]][] = [
  ['train --checkpoint-dir under /proc', 'src/cli/train.js', ['--checkpoint-dir', '/proc/x', '--epochs', '1', '--limit', '256'],
    /^error: --checkpoint-dir \/proc\/x: cannot create directory \(ENOENT\)$/, ['/proc/x']],
  ['train --log-file under /proc', 'src/cli/train.js', ['--log-file', '/proc/nope/x.log'],
    /^error: --log-file \/proc\/nope\/x\.log: cannot create directory \/proc\/nope \(ENOENT\)$/, []],
  ['train --log-file naming a directory', 'src/cli/train.js', ['--log-file', base], /^error: --log-file .*: is a directory \(EISDIR\)$/, []],
  ['train --log-file under a regular file', 'src/cli/train.js', ['--log-file', join(aFile, 'x.log')],
    /^error: --log-file .*a-file\/x\.log: .*a-file is not a directory \(ENOTDIR\)$/, []],
  ['train --checkpoint-dir under a regular file', 'src/cli/train.js', ['--checkpoint-dir', join(aFile, 'ck')],
    /^error: --checkpoint-dir .*a-file\/ck: .*a-file is not a directory \(ENOTDIR\)$/, []],
  ['train --checkpoint-dir under a dangling symbolic link', 'src/cli/train.js', ['--checkpoint-dir', join(dangling, 'ck')],
    /^error: --checkpoint-dir .*dangling\/ck: cannot create directory .*dangling \(EEXIST\)$/, [join(base, 'no-such-target')]],
  ['train: new parents of a refused output are removed again', 'src/cli/train.js', ['--log-file', join(base, 'new1', 'new2', 'run.log'), '--checkpoint-dir', '/proc/y'],
    /^error: --checkpoint-dir \/proc\/y: cannot create directory \(ENOENT\)$/, [join(base, 'new1')]],
  ['eval --log-file under /proc', 'src/cli/eval.js', ['--checkpoint', ckpt, '--log-file', '/proc/nope/e.log'],
    /^error: --log-file \/proc\/nope\/e\.log: cannot create directory \/proc\/nope \(ENOENT\)$/, []],
  ['predict --out under /proc', 'src/cli/predict.js', ['--checkpoint', ckpt, '--images', images, '--out', '/proc/nope/p.jsonl'],
    /^error: --out \/proc\/nope\/p\.jsonl: cannot create directory \/proc\/nope \(ENOENT\)$/, []],
  ['predict --out naming a directory', 'src/cli/predict.js', ['--checkpoint', ckpt, '--images', images, '--out', base],
    /^error: --out .*: is a directory \(EISDIR\)$/, []],
  ['report --out under /proc', 'src/cli/report.js', ['--log', logFile, '--out', '/proc/nope/charts'],
    /^error: --out \/proc\/nope\/charts: cannot create directory \/proc\/nope \(ENOENT\)$/, []],
  ['report --out under a regular file', 'src/cli/report.js', ['--log', logFile, '--out', join(aFile, 'charts')],
    /^error: --out .*a-file\/charts: .*a-file is not a directory \(ENOTDIR\)$/, []],
  ['bench --out under /proc', 'bench/run.js', ['--quick', '--out', '/proc/nope/latest.json'],
    /^error: --out \/proc\/nope\/latest\.json: cannot create directory \/proc\/nope \(ENOENT\)$/, []],
  ['scale --out under /proc', 'bench/scale.js', ['--out', '/proc/nope/scale'],
    /^error: --out \/proc\/nope\/scale: cannot create directory \/proc\/nope \(ENOENT\)$/, []],
];

describe('outputs that cannot be written are refused before any work', () => {
  for (const [name, script, args, message, absent] of BAD_OUTPUTS) {
    it(`${name}: exit 2, one line, nothing left behind`, () => {
      const before = readdirSync(base).sort();
      const r = runCli(script, args, {}, FAST_MS);
      expect(r.status, `status ${r.status} (null: killed after ${FAST_MS} ms)\n${r.stderr}`).toBe(2);
      expect(r.stderr.trim()).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
      for (const p of absent) expect(existsSync(p), p).toBe(false);
      expect(readdirSync(base).sort()).toEqual(before);
    });
  }
});

describe('stdout closed by the reader (`npm run train | head -1`)', () => {
  for (const format of ['json', 'pretty']) {
    it(`--log-format ${format}: exit 1 with one line, stdout: cannot write (EPIPE), not a stack trace`, async () => {
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [join(PROJECT_ROOT, 'dist/src/cli/train.js'), '--epochs', '1', '--limit', '2560', '--progress-every', '1', '--log-format', format], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
        child.stdout.once('data', () => child.stdout.destroy()); // the reader goes away after its first chunk
        child.on('exit', (code) => resolve({ code, stderr }));
      });
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe('error: stdout: cannot write (EPIPE)');
    });
  }
});

describe('outputs that can be written but not fsynced', () => {
  it('--log-file /dev/null (a device: it takes writes, not fsync) trains', () => {
    const r = runCli('src/cli/train.js', ['--epochs', '1', '--limit', '256', '--log-file', '/dev/null'], {}, FAST_MS);
    expect(r.status, r.stderr).toBe(0);
    expect(r.events.some((e) => e.event === 'run_end')).toBe(true);
  });
});

describe('a write that fails during a run', () => {
  const reference = tmpDir();
  it('(reference: an uninterrupted run)', () => {
    const r = runCli('src/cli/train.js', [...RUN, '--checkpoint-dir', reference]);
    expect(r.status, r.stderr).toBe(0);
  });

  // Injected at a checkpoint's data file (before the checkpoint is published) and at
  // latest.json (published, not yet committed: the new directory must go again).
  for (const file of ['optimizer.bin', 'latest.json']) {
    it(`ENOSPC at ${file} of a checkpoint: exit 1 naming the path, previous checkpoint valid, resume byte-identical`, () => {
      const dir = tmpDir();
      const t0 = performance.now();
      const r = runCli('src/cli/train.js', [...RUN, '--checkpoint-dir', dir, '--checkpoint-every', '4'], { TRAINER_WRITE_FAULTS: `ENOSPC@8:${file}` });
      expect(r.status, r.stderr).toBe(1);
      expect(performance.now() - t0).toBeLessThan(FAST_MS);
      const tmpName = file === 'latest.json' ? '\\.tmp-latest\\.json-\\d+' : `\\.tmp-ckpt-000000008-\\d+/${file.replace('.', '\\.')}`;
      expect(r.stderr.trim()).toMatch(new RegExp(`^error: ${dir}/${tmpName}: cannot write checkpoint ckpt-000000008 \\(ENOSPC\\)$`));
      const failed = r.events.find((e) => e.event === 'run_failed')!;
      expect(failed).toMatchObject({ code: 'E_WRITE', errno: 'ENOSPC' });
      expect(failed.path).toMatch(new RegExp(`^${dir}/${tmpName}$`));
      expect(r.events.some((e) => e.event === 'run_end')).toBe(false);
      // Nothing of the failed attempt is left, and the previous checkpoint is the valid one.
      expect(temps(dir)).toEqual([]);
      expect(listCheckpoints(dir)).toEqual(['ckpt-000000004']);
      expect(readLatestCheckpoint(dir).step).toBe(4);

      const resumed = runCli('src/cli/train.js', ['--resume', dir]);
      expect(resumed.status, resumed.stderr).toBe(0);
      expect(finalWeights(dir).equals(finalWeights(reference))).toBe(true);
    });
  }

  it('leftover .tmp-* directories are removed by the next run in that directory, with a log event', () => {
    const dir = tmpDir();
    const killed = runCli('src/cli/train.js', [...RUN, '--checkpoint-dir', dir, '--checkpoint-every', '10'], { TRAINER_WRITE_FAULTS: 'EIO@20:weights.bin' });
    expect(killed.status).toBe(1);
    expect(killed.stderr).toMatch(/cannot write checkpoint ckpt-000000020 \(EIO\)/);
    // What a crash (SIGKILL mid-write) leaves: a partial checkpoint under a temp name.
    mkdirSync(join(dir, '.tmp-ckpt-000000030-99999'));
    writeFileSync(join(dir, '.tmp-ckpt-000000030-99999', 'weights.bin'), Buffer.alloc(1000));
    writeFileSync(join(dir, '.tmp-latest.json-99999'), '{');
    const resumed = runCli('src/cli/train.js', ['--resume', dir]);
    expect(resumed.status, resumed.stderr).toBe(0);
    const removed = resumed.events.find((e) => e.event === 'checkpoint_temps_removed')!;
    expect(removed).toMatchObject({ dir });
    expect((removed.removed as string[]).sort()).toEqual(['.tmp-ckpt-000000030-99999', '.tmp-latest.json-99999']);
    expect(temps(dir)).toEqual([]);
    expect(finalWeights(dir).equals(finalWeights(reference))).toBe(true);
  });
});

// A real full disk: a small tmpfs (needs root and mount; skipped with the reason otherwise).
const mountProblem = (() => {
  if (process.getuid?.() !== 0) return 'not root';
  const probe = tmpDir('tmpfs-probe-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe]);
  if (r.status !== 0) return `mount -t tmpfs failed: ${r.stderr.toString().trim() || r.error?.message}`;
  spawnSync('umount', [probe]);
  return null;
})();
if (mountProblem) console.warn(`skipping the real-ENOSPC tests: ${mountProblem}`);

function withTmpfs(sizeKb: number, use: (dir: string, resize: (kb: number) => void) => void): void {
  const dir = tmpDir('tmpfs-');
  expect(spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k`, 'tmpfs', dir]).status).toBe(0);
  try {
    use(dir, (kb) => expect(spawnSync('mount', ['-o', `remount,size=${kb}k`, dir]).status).toBe(0));
  } finally {
    spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(mountProblem !== null)('a real full disk (tmpfs)', () => {
  it('a 700 KB checkpoint disk fills mid-run: exit 1 naming the file, no temp left, resume works once there is room', () => {
    withTmpfs(700, (mnt, resize) => {
      const dir = join(mnt, 'ckpt');
      const r = runCli('src/cli/train.js', ['--epochs', '1', '--checkpoint-dir', dir, '--checkpoint-every', '20']);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr.trim()).toMatch(new RegExp(`^error: ${dir}/\\.tmp-ckpt-\\d{9}-\\d+/[\\w.]+: cannot write checkpoint ckpt-\\d{9} \\(ENOSPC\\)$`));
      expect(r.events.find((e) => e.event === 'run_failed')).toMatchObject({ code: 'E_WRITE', errno: 'ENOSPC' });
      expect(temps(dir)).toEqual([]);
      const last = readLatestCheckpoint(dir);
      resize(20_000);
      const resumed = runCli('src/cli/train.js', ['--resume', dir]);
      expect(resumed.status, resumed.stderr).toBe(0);
      const start = resumed.events.find((e) => e.event === 'run_start') as { resumedFrom: { step: number } };
      expect(start.resumedFrom.step).toBe(last.step);
      expect(readLatestCheckpoint(dir).step).toBe(468);
    });
  });

  it('a log file whose disk fills: exit 1 within 2 s of the failure, naming the log file, the epoch unfinished', () => {
    withTmpfs(48, (mnt) => {
      const log = join(mnt, 'run.ndjson');
      const r = runCli('src/cli/train.js', ['--epochs', '1', '--progress-every', '1', '--log-file', log]);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr.trim()).toBe(`error: ${log}: cannot write (ENOSPC)`);
      const failed = r.events.find((e) => e.event === 'run_failed')!;
      expect(failed).toMatchObject({ code: 'E_WRITE', errno: 'ENOSPC', path: log });
      // What the mechanism guarantees, not how far a busy scheduler lets the run get:
      // the coordinator stops the loops at the step whose line the file could not take;
      // the steps the loops had finished by then (they run at most RING = 64 steps
      // ahead) are still checked and logged on stdout, and no epoch ends.
      const progress = r.events.filter((e) => e.event === 'progress') as { step: number; time: string }[];
      const fileLines = readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('"event":"progress"')).length;
      expect(progress.length).toBeGreaterThanOrEqual(fileLines); // the file may hold part of the failed line
      expect(progress.length).toBeLessThanOrEqual(fileLines + 1 + 64);
      expect(progress.at(-1)!.step).toBeLessThan(468);
      expect(r.events.some((e) => e.event === 'epoch_end')).toBe(false);
      expect(Date.parse(failed.time as string) - Date.parse(progress.at(-1)!.time as string)).toBeLessThan(2000);
    });
  });

  it('a read-only checkpoint directory cannot be resumed into: exit 2 naming --resume and EROFS', () => {
    withTmpfs(4096, (mnt) => {
      const dir = join(mnt, 'ckpt');
      expect(runCli('src/cli/train.js', ['--epochs', '1', '--limit', '256', '--checkpoint-dir', dir]).status).toBe(0);
      expect(spawnSync('mount', ['-o', 'remount,ro', mnt]).status).toBe(0);
      const r = runCli('src/cli/train.js', ['--resume', dir, '--epochs', '2'], {}, FAST_MS);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.trim()).toBe(`error: --resume ${dir}: cannot write a file there (EROFS)`);
    });
  });
});
