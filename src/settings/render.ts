// The settings table as text: train's --help, config/default.jsonc and the flag table of
// docs/cli.md. The help is built at run time; the two files by `npm run gen:settings`
// (scripts/gen-settings.ts), and test/unit/settings.test.ts renders them again to see
// that the files on disk are current.
import { ENTRIES } from './settings.js';
import type { Setting } from './settings.js';

/** The flags that are not settings, for --help and the docs. */
const OTHER_FLAGS = [
  { label: '--config PATH', help: 'a JSON-with-comments config file (keys as in config/default.jsonc)', doc: 'a JSON-with-comments file with any keys of `config/default.jsonc`', defaultText: 'none' },
  { label: '--help', help: 'print this help and exit', doc: 'lists the flags', defaultText: '' },
];

const flagLabel = (s: Setting<unknown>): string => (s.flag ? `--${s.flag.name}${s.flag.kind === 'boolean' ? '' : ` ${s.flag.arg}`}` : '');
const defaultText = (s: Setting<unknown>): string => s.defaultText ?? String(s.default);

/** Words to lines of at most `width` characters; a '\n' in the text starts a new line. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ')) {
      if (line && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    lines.push(line);
  }
  return lines;
}

const NBSP = '\u00a0';

const HELP_HEAD = `Usage: tfjs-parallel-trainer train [flags]
       (in this repository: npm run train -- [flags])

Trains a TensorFlow.js model data-parallel across worker threads: by default the
built-in task, an MLP on MNIST (or any IDX or .npy dataset) with the masked loss
(cross-entropy of the one-hot class times a condition column); with --task, your own
Layers model and loss.

Flags (config/default.jsonc lists every key with its default; a --config file
overrides the defaults; flags override both):
`;

/** train's --help: the header, then one entry per flag, its meaning and its default. */
export function helpText(): string {
  const rows = ENTRIES.filter(([, s]) => s.flag).map(([, s]) => {
    const shown = `(default ${defaultText(s)})`.replace(/ /g, NBSP); // no-break spaces: wrap() keeps it on one line
    return { label: flagLabel(s), help: `${s.flag!.help} ${shown}` };
  });
  rows.push(...OTHER_FLAGS);
  const column = Math.max(...rows.map((r) => r.label.length)) + 4; // 2 before the flag, 2 after
  const lines = rows.flatMap(({ label, help }) =>
    wrap(help, 90 - column).map((text, i) => (i === 0 ? `  ${label}`.padEnd(column) : ' '.repeat(column)) + text.replaceAll(NBSP, ' ')));
  const configOnly = ENTRIES.filter(([, s]) => !s.flag).map(([k]) => k);
  return `${HELP_HEAD}${lines.join('\n')}\n\nKeys of config files and train() without a flag: ${configOnly.join(', ')}.\n`;
}

/** A JSON value on one line, spaced as people write it: { "units": 64, "activation": "relu" }. */
function jsonLine(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(jsonLine).join(', ')}]`;
  if (typeof v === 'object' && v !== null) return `{ ${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${jsonLine(x)}`).join(', ')} }`;
  return JSON.stringify(v);
}

/** config/default.jsonc: every key with its default, under the why of it. */
export function defaultJsonc(): string {
  const keys = ENTRIES.map(([key, s], i) => {
    const why = wrap(s.why, 85).map((l) => `  // ${l}\n`).join('');
    return `${why}  ${JSON.stringify(key)}: ${jsonLine(s.default)}${i < ENTRIES.length - 1 ? ',' : ''}\n`;
  });
  return `// Every setting with its default: the seed experiment. A --config file may set any
// subset of these keys, and flags override both. Unknown keys and wrong types are errors.
//
// Written by \`npm run gen:settings\` from src/settings/settings.ts, where the defaults
// live: change them there; editing this file changes no default.
{
${keys.join('')}}
`;
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

/** The flag table of docs/cli.md: every setting (flag or not), then --config and --help. */
export function docsTable(): string {
  const rows = ENTRIES.map(([key, s]) => {
    const shown = s.defaultText ?? (typeof s.default === 'string' ? `\`${s.default}\`` : String(s.default));
    return [s.flag ? `\`${flagLabel(s)}\`` : '', `\`${key}\``, shown, s.doc];
  });
  rows.push(...OTHER_FLAGS.map((f) => [`\`${f.label}\``, '', f.defaultText, f.doc]));
  return ['| flag | config key | default | meaning |', '| --- | --- | --- | --- |', ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

export const DOCS_BEGIN = '<!-- settings:begin -->';
export const DOCS_END = '<!-- settings:end -->';

/** docs/cli.md with the text between the settings markers replaced by docsTable(). */
export function withDocsTable(markdown: string): string {
  const begin = markdown.indexOf(DOCS_BEGIN);
  const end = markdown.indexOf(DOCS_END);
  if (begin < 0 || end < begin) throw new Error(`docs/cli.md: no ${DOCS_BEGIN} ... ${DOCS_END} markers`);
  return `${markdown.slice(0, begin + DOCS_BEGIN.length)}\n${docsTable()}\n${markdown.slice(end)}`;
}
