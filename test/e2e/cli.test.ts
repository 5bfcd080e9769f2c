// The bad-input table: every case exits 2 with one line on stderr naming the flag, file
// or value, and writes nothing (no log file, no checkpoint directory). README lists it.
import { describe, expect, it } from 'vitest';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IDX_FILES } from '../../src/data/idx.js';
import { mnistData, runCli, tmpDir } from '../helpers.js';

function idx(dims: number[], data: number[] | Uint8Array, magic = [0, 0, 8, dims.length]): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.set(magic, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

/** A small valid dataset dir (4x4 images, 3 classes), then `breakIt` damages one file. */
function dataDir(breakIt: (dir: string) => void): string {
  const dir = tmpDir('bad-data-');
  writeFileSync(join(dir, IDX_FILES.trainImages), idx([40, 4, 4], new Uint8Array(640).fill(9)));
  writeFileSync(join(dir, IDX_FILES.trainLabels), idx([40], Array.from({ length: 40 }, (_, i) => i % 3)));
  writeFileSync(join(dir, IDX_FILES.testImages), idx([10, 4, 4], new Uint8Array(160)));
  writeFileSync(join(dir, IDX_FILES.testLabels), idx([10], Array.from({ length: 10 }, (_, i) => i % 3)));
  breakIt(dir);
  return dir;
}
const numClasses3 = (() => {
  const f = join(tmpDir(), 'three.jsonc');
  writeFileSync(f, '{ "model": { "hidden": [{ "units": 8, "activation": "relu" }], "numClasses": 3 }, "batchSize": 8 }');
  return f;
})();
const configFile = (text: string) => {
  const f = join(tmpDir(), 'c.jsonc');
  writeFileSync(f, text);
  return f;
};

const unreadable = (() => {
  const f = configFile('{}');
  chmodSync(f, 0o000);
  return f;
})();
const asRoot = process.getuid?.() === 0; // root reads a 000 file anyway: use a directory then
const unreadableConfig = asRoot ? tmpDir() : unreadable;

export const BAD_INPUTS: [string, string[], RegExp][] = [
  ['workers 0', ['--workers', '0'], /^error: --workers: expected an integer from 1 to 256, got "0"$/],
  ['workers -1', ['--workers', '-1'], /^error: --workers: expected an integer from 1 to 256, got "-1"$/],
  ['workers abc', ['--workers', 'abc'], /^error: --workers: expected a number, got "abc"$/],
  ['workers 2.5', ['--workers', '2.5'], /^error: --workers: expected an integer from 1 to 256, got "2.5"$/],
  ['batch smaller than workers', ['--workers', '4', '--batch-size', '3'], /^error: --batch-size: 3 is smaller than --workers 4; every worker needs at least one row$/],
  ['threads 0', ['--threads', '0'], /^error: --threads: expected an integer from 1 to 256, got "0"$/],
  ['threads above workers', ['--workers', '2', '--threads', '3'], /^error: --threads: 3 is more than --workers 2; a thread runs at least one worker's shard$/],
  ['lr 0', ['--lr', '0'], /^error: --lr: expected a number > 0, got "0"$/],
  ['lr negative', ['--lr', '-0.001'], /^error: --lr: expected a number > 0, got "-0.001"$/],
  ['epochs not a number', ['--epochs', 'x'], /^error: --epochs: expected a number, got "x"$/],
  ['unknown mask', ['--mask', 'prime'], /^error: --mask: expected odd, even, all or classes=1,3,7, got "prime"$/],
  ['unknown normalize', ['--normalize', 'mean'], /^error: --normalize: expected one of batch, condition, weight, got "mean"$/],
  ['micro-shard-rows without --deterministic', ['--micro-shard-rows', '32'], /^error: --micro-shard-rows 32: has no effect without --deterministic$/],
  ['step-timeout 0', ['--step-timeout', '0'], /^error: --step-timeout: expected an integer from 1 to 2147483647, got "0"$/],
  ['unknown flag', ['--frobnicate', '3'], /^error: --frobnicate: unknown flag \(see --help\)$/],
  ['flag without value', ['--workers'], /^error: --workers: needs a value$/],
  ['batch larger than the data', ['--batch-size', '1000', '--limit', '500'], /^error: --batch-size: 1000 is larger than the 500 training rows$/],
  ['missing data directory', ['--data', '/no/such/dir'], /^error: \/no\/such\/dir: data directory not found$/],
  ['truncated IDX file', ['--config', numClasses3, '--data', dataDir((d) => writeFileSync(join(d, IDX_FILES.trainImages), idx([40, 4, 4], new Uint8Array(600))))],
    /^error: .*train-images-idx3-ubyte: truncated: dims 40x4x4 need 640 data bytes, found 600$/],
  ['wrong magic number', ['--config', numClasses3, '--data', dataDir((d) => writeFileSync(join(d, IDX_FILES.testLabels), idx([10], new Uint8Array(10), [8, 3, 0, 1])))],
    /^error: .*t10k-labels-idx1-ubyte: wrong magic number 0x08030001 \(an IDX file starts with 0x0000\)$/],
  ['image/label count mismatch', ['--config', numClasses3, '--data', dataDir((d) => writeFileSync(join(d, IDX_FILES.trainLabels), idx([39], new Uint8Array(39))))],
    /^error: .*train-labels-idx1-ubyte: 39 labels for 40 images in .*train-images-idx3-ubyte$/],
  ['label outside the class range', ['--config', numClasses3, '--data', dataDir((d) => writeFileSync(join(d, IDX_FILES.trainLabels), idx([40], Array.from({ length: 40 }, (_, i) => (i === 17 ? 3 : 0)))))],
    /^error: .*train-labels-idx1-ubyte: label 3 at row 17 is outside the class range 0\.\.2$/],
  ['missing config file', ['--config', '/no/such/config.jsonc'], /^error: \/no\/such\/config\.jsonc: cannot read config file \(ENOENT\)$/],
  ['unreadable config file', ['--config', unreadableConfig], /^error: .*: cannot read config file \((EISDIR|EACCES)\)$/],
  ['corrupt config file', ['--config', configFile('{ "workers": 2,, }')], /^error: .*c\.jsonc: not valid JSON-with-comments at line 1 \(PropertyNameExpected\)$/],
  ['unknown config key', ['--config', configFile('{ "wokers": 2 }')], /^error: .*c\.jsonc: unknown key "wokers" \(allowed: workers, threads, epochs, /],
  ['config value of the wrong type', ['--config', configFile('{ "epochs": "three" }')], /^error: .*c\.jsonc: key "epochs" has value "three"; expected an integer from 1$/],
];

describe('bad input', () => {
  it('checkpoint settings without a checkpoint directory would do nothing: exit 2, one line naming the flag', () => {
    for (const [args, message] of [[['--checkpoint-every', '10'], 'error: --checkpoint-every 10: has no effect without --checkpoint-dir'], [['--keep', '5'], 'error: --keep 5: has no effect without --checkpoint-dir']] as const) {
      const r = runCli('src/cli/train.js', ['--limit', '256', ...args]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toBe(`${message}\n`);
      expect(r.stdout).toBe('');
    }
  });

  for (const [name, args, message] of BAD_INPUTS) {
    it(`${name}: exit 2, one line, nothing written`, () => {
      const dir = tmpDir();
      const logFile = join(dir, 'run.ndjson');
      const ckptDir = join(dir, 'ckpt');
      const r = runCli('src/cli/train.js', ['--log-file', logFile, '--checkpoint-dir', ckptDir, ...args]);
      expect(r.status).toBe(2);
      expect(r.stderr.trim()).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
      expect(existsSync(logFile)).toBe(false);
      expect(existsSync(ckptDir)).toBe(false);
    });
  }

  it('--help lists every flag and exits 0', () => {
    const r = runCli('src/cli/train.js', ['--help']);
    expect(r.status).toBe(0);
    for (const flag of ['--workers', '--epochs', '--batch-size', '--lr', '--seed', '--mask', '--normalize', '--log-level', '--log-file', '--progress-every',
      '--data', '--limit', '--backend', '--config', '--deterministic', '--checkpoint-dir', '--checkpoint-every', '--keep', '--resume', '--step-timeout', '--max-retries']) {
      expect(r.stdout).toContain(flag);
    }
  });

  it('a valid small dataset from the same builder trains (the bad cases fail for their own reason)', () => {
    const r = runCli('src/cli/train.js', ['--config', numClasses3, '--data', dataDir(() => undefined), '--epochs', '1']);
    expect(r.status, r.stderr).toBe(0);
  });
});

describe('--eval and --eval-limit', () => {
  const RUN = ['--epochs', '1', '--limit', '640'];
  const evalOf = (r: ReturnType<typeof runCli>) => r.events.find((e) => e.event === 'eval') as Record<string, { rows: number; trueCounts: number[] }> | undefined;

  it('--eval test: the test set only, in the event and on stderr', () => {
    const r = runCli('src/cli/train.js', [...RUN, '--eval', 'test']);
    expect(r.status, r.stderr).toBe(0);
    const e = evalOf(r)!;
    expect(Object.keys(e)).not.toContain('train');
    expect(e.test.rows).toBe(10_000);
    expect(r.stderr).toMatch(/^\n== test set: 10000 rows/);
    expect(r.stderr).not.toContain('== training set');
  });

  it('--eval none: no evaluation, nothing on stderr', () => {
    const r = runCli('src/cli/train.js', [...RUN, '--eval', 'none']);
    expect(r.status, r.stderr).toBe(0);
    expect(evalOf(r)).toBeUndefined();
    expect(r.events.at(-1)!.event).toBe('run_end');
    expect(r.stderr).toBe('');
  });

  it('--eval-limit N: the first N rows of each split', () => {
    const r = runCli('src/cli/train.js', [...RUN, '--eval-limit', '300']);
    expect(r.status, r.stderr).toBe(0);
    const e = evalOf(r)!;
    const { train, test } = mnistData();
    const counts = (labels: Uint8Array) => Array.from({ length: 10 }, (_, c) => labels.subarray(0, 300).filter((l) => l === c).length);
    expect([e.train.rows, e.test.rows]).toEqual([300, 300]);
    expect(e.train.trueCounts).toEqual(counts(train.labels));
    expect(e.test.trueCounts).toEqual(counts(test.labels));
  });
});
