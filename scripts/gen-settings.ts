// npm run gen:settings: writes config/default.jsonc and the flag table of docs/cli.md
// from the settings table (src/settings/settings.ts). Run it after changing the table;
// test/unit/settings.test.ts fails until then.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CONFIG_FILE, PROJECT_ROOT } from '../src/files/paths.js';
import { defaultJsonc, withDocsTable } from '../src/settings/render.js';

const CLI_DOC = join(PROJECT_ROOT, 'docs', 'cli.md');

const outputs: [file: string, text: string][] = [
  [DEFAULT_CONFIG_FILE, defaultJsonc()],
  [CLI_DOC, withDocsTable(readFileSync(CLI_DOC, 'utf8'))],
];
for (const [file, text] of outputs) {
  const changed = readFileSync(file, 'utf8') !== text;
  if (changed) writeFileSync(file, text);
  console.log(`${file}: ${changed ? 'written' : 'already current'}`);
}
