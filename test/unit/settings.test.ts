// The settings table and what is written from it: config/default.jsonc and the flag
// table of docs/cli.md are rendered again here and must equal the files (else: run
// `npm run gen:settings`), the defaults pass their own checks, and --help and the docs
// name every flag, default and choice.
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, HELP, defaultConfig, readConfigFile, resolveSettings } from '../../src/settings/config.js';
import { DEFAULT_CONFIG_FILE, PROJECT_ROOT } from '../../src/files/paths.js';
import { defaultJsonc, docsTable, withDocsTable } from '../../src/settings/render.js';
import { ENTRIES, defaults } from '../../src/settings/settings.js';
import { tmpDir } from '../helpers.js';

const CLI_DOC = join(PROJECT_ROOT, 'docs', 'cli.md');
const STALE = 'is stale: run `npm run gen:settings` after changing src/settings/settings.ts';

describe('files written from the settings table', () => {
  it('config/default.jsonc is current', () => {
    expect(readFileSync(DEFAULT_CONFIG_FILE, 'utf8'), `config/default.jsonc ${STALE}`).toBe(defaultJsonc());
  });

  it("docs/cli.md's flag table is current", () => {
    const text = readFileSync(CLI_DOC, 'utf8');
    expect(text, `docs/cli.md ${STALE}`).toBe(withDocsTable(text));
  });

  it('config/default.jsonc, read as a --config file, holds the defaults', () => {
    expect(readConfigFile(DEFAULT_CONFIG_FILE)).toEqual(defaults());
  });
});

describe('the settings table', () => {
  it('every default passes its own check, and together they resolve', () => {
    for (const [key, s] of ENTRIES) expect(s.check(s.default), key).toBeNull();
    expect(defaultConfig()).toMatchObject({ workers: 2, mask: { kind: 'odd' }, model: { numClasses: 10 } });
  });

  it('defaults() is a fresh copy each time', () => {
    defaults().model.hidden.push({ units: 1, activation: 'linear' });
    expect(defaults().model.hidden).toHaveLength(1);
  });

  it('--help and the docs name every flag with its default, and every choice of a one-of setting', () => {
    const table = docsTable();
    for (const [key, s] of ENTRIES) {
      expect(table, key).toContain(`\`${key}\``);
      if (s.flag) {
        expect(HELP, key).toContain(`--${s.flag.name}`);
        expect(HELP.replace(/\s+/g, ' '), key).toContain(`(default ${s.defaultText ?? String(s.default)})`);
      }
      const choices = (s.check as { choices?: readonly string[] }).choices ?? [];
      for (const choice of choices) {
        expect(s.flag?.help, `${key}: ${choice}`).toContain(choice);
        expect(s.doc, `${key}: ${choice}`).toContain(choice);
      }
    }
    expect(HELP).toContain('--config PATH');
    expect(HELP).toContain('--help');
  });

  it('a key of Object.prototype is an unknown key, not a setting', () => {
    const f = join(tmpDir(), 'c.jsonc');
    writeFileSync(f, '{ "constructor": 1 }');
    expect(() => readConfigFile(f)).toThrow(ConfigError);
    expect(() => readConfigFile(f)).toThrow(/unknown key "constructor" \(allowed: workers, threads, epochs, /);
    expect(() => resolveSettings({ toString: 1 })).toThrow(/^train\(\): unknown option "toString"/);
  });
});
