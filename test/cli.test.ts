// Bad flags: exit code 2, one line on stderr naming the flag and value, nothing written.
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tmpDir } from './helpers.js';

const cases: [string[], RegExp][] = [
  [['--workers', '0'], /^error: --workers: expected an integer from 1 to 256, got "0"$/],
  [['--workers', '-1'], /^error: --workers: expected an integer from 1 to 256, got "-1"$/],
  [['--workers', 'abc'], /^error: --workers: expected a number, got "abc"$/],
  [['--workers', '2.5'], /^error: --workers: expected an integer from 1 to 256, got "2.5"$/],
  [['--workers', '4', '--batch-size', '3'], /^error: --batch-size: 3 is smaller than --workers 4; every worker needs at least one row$/],
  [['--lr', '0'], /^error: --lr: expected a number > 0, got "0"$/],
  [['--lr', '-0.001'], /^error: --lr: expected a number > 0, got "-0.001"$/],
  [['--epochs', 'x'], /^error: --epochs: expected a number, got "x"$/],
  [['--mask', 'prime'], /^error: --mask: expected odd, even, all or classes=1,3,7, got "prime"$/],
  [['--normalize', 'mean'], /^error: --normalize: expected one of batch, condition, got "mean"$/],
  [['--frobnicate', '3'], /^error: --frobnicate: unknown flag \(see --help\)$/],
  [['--workers'], /^error: --workers: needs a value$/],
  [['--data', '/no/such/dir'], /^error: \/no\/such\/dir: data directory not found$/],
  [['--batch-size', '1000', '--limit', '500'], /^error: --batch-size: 1000 is larger than the 500 training rows$/],
];

describe('CLI errors', () => {
  for (const [args, message] of cases) {
    it(`train ${args.join(' ')} -> exit 2, ${message.source}`, () => {
      const dir = tmpDir();
      const logFile = join(dir, 'run.ndjson');
      const r = runCli('src/train.js', ['--log-file', logFile, ...args]);
      expect(r.status).toBe(2);
      expect(r.stderr.trim()).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
      expect(existsSync(logFile)).toBe(false);
    });
  }

  it('--help lists every flag and exits 0', () => {
    const r = runCli('src/train.js', ['--help']);
    expect(r.status).toBe(0);
    for (const flag of ['--workers', '--epochs', '--batch-size', '--lr', '--seed', '--mask', '--normalize', '--log-level', '--log-file', '--progress-every', '--data', '--limit', '--backend', '--config']) {
      expect(r.stdout).toContain(flag);
    }
  });
});
