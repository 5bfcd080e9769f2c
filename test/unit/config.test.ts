// Config files: defaults < --config file < flags, strict validation naming the key, the
// resolved config in run_start, the shipped example configs, and the progress line.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, readConfigFile, resolveConfig } from '../../src/settings/config.js';
import { PROJECT_ROOT } from '../../src/files/paths.js';
import { runCli, tmpDir } from '../helpers.js';

const file = (text: string) => {
  const f = join(tmpDir(), 'config.jsonc');
  writeFileSync(f, text);
  return f;
};

describe('config precedence', () => {
  it('defaults < file < flags', () => {
    const defaults = resolveConfig([]);
    expect(defaults).toMatchObject({ workers: 2, epochs: 3, batchSize: 128, mask: { kind: 'odd' }, normalize: 'batch' });
    const f = file('// comment\n{ "workers": 3, "epochs": 7, "mask": "even", /* inline */ "model": { "hidden": [], "numClasses": 10 }, }');
    const fromFile = resolveConfig(['--config', f]);
    expect(fromFile).toMatchObject({ workers: 3, epochs: 7, mask: { kind: 'even' }, batchSize: 128, model: { hidden: [], numClasses: 10 } });
    const flags = resolveConfig(['--config', f, '--workers', '4', '--mask', 'all']);
    expect(flags).toMatchObject({ workers: 4, epochs: 7, mask: { kind: 'all' } });
  });

  it('the resolved config is logged in run_start', () => {
    const f = file('{ "epochs": 1, "limit": 640, "seed": 5 }');
    const r = runCli('src/cli/train.js', ['--config', f, '--workers', '1']);
    expect(r.status, r.stderr).toBe(0);
    const start = r.events.find((e) => e.event === 'run_start') as { config: Record<string, unknown> };
    expect(start.config).toMatchObject({ epochs: 1, limit: 640, seed: 5, workers: 1, batchSize: 128 });
    expect(r.events.filter((e) => e.event === 'worker_ready').map((e) => e.workerIndex)).toEqual([0]);
  });

  const errors: [string, RegExp][] = [
    ['{ "workers": 0 }', /key "workers" has value 0; expected an integer from 1 to 256/],
    ['{ "lr": "fast" }', /key "lr" has value "fast"; expected a number > 0/],
    ['{ "model": { "hidden": [{ "units": 0, "activation": "relu" }], "numClasses": 10 } }', /key "model" has value .*; expected an object/],
    ['{ "model": { "hidden": [{ "units": 8, "activation": "gelu" }], "numClasses": 10 } }', /key "model" has value .*relu\|tanh\|sigmoid\|linear/],
    ['{ "model": { "hidden": [], "numClasses": 1 } }', /numClasses an integer from 2 to 256/],
    ['{ "model": { "hidden": [], "numClasses": 10, "dropout": 0.5 } }', /unknown key "dropout"/],
    ['{ "deterministic": "yes" }', /key "deterministic" has value "yes"; expected true or false/],
    ['[1, 2]', /expected an object of settings at the top level/],
    ['{ "mask": "classes=1,3,x" }', /key "mask" has value "classes=1,3,x"; expected odd, even, all or classes=1,3,7/],
  ];
  for (const [text, message] of errors) {
    it(`rejects ${text}`, () => {
      const f = file(text);
      expect(() => readConfigFile(f)).toThrow(ConfigError);
      expect(() => readConfigFile(f)).toThrow(message);
    });
  }

  it('rejects a mask class the model does not have and a model that does not fit the labels', () => {
    const r1 = runCli('src/cli/train.js', ['--mask', 'classes=3,12']);
    expect(r1.status).toBe(2);
    expect(r1.stderr.trim()).toBe("error: --mask: class 12 is outside the model's classes 0..9");
    const r2 = runCli('src/cli/train.js', ['--config', file('{ "model": { "hidden": [], "numClasses": 5 } }')]);
    expect(r2.status).toBe(2);
    expect(r2.stderr.trim()).toMatch(/train-labels-idx1-ubyte: label \d at row \d+ is outside the class range 0\.\.4$/);
  });
});

describe('shipped configs', () => {
  for (const name of ['default.jsonc', 'wide-all.jsonc']) {
    it(`config/${name} is valid and trains`, () => {
      const r = runCli('src/cli/train.js', ['--config', join(PROJECT_ROOT, 'config', name), '--epochs', '1', '--limit', '2560']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.events.find((e) => e.event === 'run_end')).toBeTruthy();
    });
  }
});

describe('--backend cpu', () => {
  it('trains on the pure-JS backend, and run_start and every worker_ready say so', () => {
    const r = runCli('src/cli/train.js', ['--backend', 'cpu', '--epochs', '1', '--limit', '640']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.events.find((e) => e.event === 'run_start')!.backend).toBe('cpu');
    expect(r.events.filter((e) => e.event === 'worker_ready').map((e) => e.backend)).toEqual(['cpu', 'cpu']);
  });
});

describe('--backend tensorflow', () => {
  it('without a user-installed @tensorflow/tfjs-node: exit 2 explaining how to install it and its limits', () => {
    const r = runCli('src/cli/train.js', ['--backend', 'tensorflow']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/^error: --backend tensorflow: @tensorflow\/tfjs-node is not installed; install it yourself .*known to fail when loaded in more than one worker thread/);
  });
});

describe('progress line', () => {
  it('is absent when stderr is not a terminal', () => {
    const r = runCli('src/cli/train.js', ['--epochs', '1', '--limit', '1280']);
    expect(r.status).toBe(0);
    expect(r.stderr).not.toContain('\r');
    expect(r.stderr).not.toContain('samples/s  ETA');
  });

  const hasScript = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!hasScript)('redraws in place on a terminal (under script(1), a pseudo-terminal)', () => {
    const cmd = `${process.execPath} ${join(PROJECT_ROOT, 'dist/src/cli/train.js')} --epochs 1 --limit 6400 > /dev/null`;
    const r = spawnSync('script', ['-qc', cmd, '/dev/null'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\repoch 1\/1 {2}step \d+\/50 {2}loss \d\.\d{4} {2}[\d,]+ samples\/s {2}ETA /);
  });
});
