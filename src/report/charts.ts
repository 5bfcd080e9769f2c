// `npm run report -- --log run.ndjson --out DIR`: a training run's NDJSON log -> one SVG
// chart per view (Vega-Lite compiled to Vega, rendered headless to SVG strings) and an
// index.html showing them with the run's settings and final numbers. Owns the CLI,
// reading and checking the log, and the page; the chart specs are in chart-specs.ts.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { View, parse as parseVega } from 'vega';
import { compile } from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import { confusionSpec, lossSpec, phasesSpec, throughputSpec } from './chart-specs.js';
import type { ConfusionChart, WindowRow } from './chart-specs.js';
import { asWriteError, makeDirs, OutputError, probeDir } from '../run/outputs.js';
import { PHASES } from '../run/step-stats.js';

export const HELP = `Usage: npm run report -- --log FILE --out DIR

Turns the NDJSON log of a training run (stdout of npm run train, or its --log-file)
into SVG charts and an index.html that shows them with the run's settings and the
final eval numbers. If the log holds several runs (--log-file appends), the last one
is reported. Lines that are not JSON (pino-pretty output, a partial last line) are
skipped and counted in a warning on stderr.

Flags:
  --log FILE   the NDJSON log to read (required)
  --out DIR    where to write the charts; checked (created, written to and removed
               again) before rendering, created (with parents) once the charts are
               rendered; existing files of the same name are replaced
  --help       print this help and exit

Files written (a chart is left out when the log has no data for it):
  loss.svg                 loss per progress window and per epoch
  throughput.svg           samples/s per progress window and per epoch
  phases.svg               mean ms per step of each phase (compute, wait, reduce,
                           dispatch, adam), stacked, per progress window (or per epoch)
  confusion-odd.svg        eval heat maps, training set, odd- / even-labelled rows
  confusion-even.svg
  confusion-test-odd.svg   the same on the test set, when the eval event has one
  confusion-test-even.svg
  index.html               the page showing all of the above

Output: one line on stdout per file written, its path, index.html last.
Exit codes: 0 done; 2 bad input (one line on stderr naming the flag or file, nothing
written); 1 an unexpected failure while rendering or writing.
`;

export class ReportInputError extends Error {
  readonly code = 'E_REPORT_INPUT';
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (o: Obj | undefined, key: string): number | undefined => {
  const v = o?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
};
const obj = (o: Obj | undefined, key: string): Obj | undefined => (isObj(o?.[key]) ? (o[key] as Obj) : undefined);

const TRAINER_EVENTS = new Set(['run_start', 'progress', 'epoch_end', 'eval', 'run_end', 'run_failed']);

/** The events of one run, checked once here; everything downstream reads these. */
export interface RunLog {
  runStart: Obj | undefined;
  windows: WindowRow[];
  epochs: WindowRow[];
  evalEvent: Obj | undefined;
  runEnd: Obj | undefined;
  runFailed: Obj | undefined;
}

function parseCli(argv: string[]): { log: string; out: string } | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { log: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    const msg = (e as Error).message;
    const unknown = /Unknown option '([^']+)'/.exec(msg);
    if (unknown) throw new ReportInputError(`${unknown[1]}: unknown flag (see --help)`);
    const missing = /Option '(--[\w-]+)[^']*' argument (missing|is ambiguous)/.exec(msg);
    if (missing) throw new ReportInputError(`${missing[1]}: needs a value`);
    const positional = /Unexpected argument '([^']*)'/.exec(msg);
    if (positional) throw new ReportInputError(`"${positional[1]}": unexpected argument; pass the log with --log (see --help)`);
    throw new ReportInputError(msg.split('\n')[0]);
  }
  if (values.help) return 'help';
  if (values.log === undefined || values.log === '') throw new ReportInputError('--log: required (the NDJSON log of a training run)');
  if (values.out === undefined || values.out === '') throw new ReportInputError('--out: required (the directory to write the charts to)');
  return { log: values.log, out: values.out };
}

/** Reads the log: trainer events of the last run, and the warnings to print. */
export function readLog(file: string): { run: RunLog; warnings: string[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ReportInputError(code === 'ENOENT' ? `${file}: log file not found` : `${file}: cannot read log file (${code ?? (e as Error).message})`);
  }
  let events: Obj[] = [];
  let notJson = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      notJson++;
      continue;
    }
    // Other JSON lines (another program's log) are not an error, just not ours.
    if (isObj(value) && typeof value.event === 'string' && TRAINER_EVENTS.has(value.event)) events.push(value);
  }
  if (events.length === 0) throw new ReportInputError(`${file}: no trainer events found`);
  const warnings: string[] = [];
  if (notJson > 0) warnings.push(`${file}: skipped ${notJson} line${notJson === 1 ? '' : 's'} that ${notJson === 1 ? 'is' : 'are'} not JSON (pino-pretty output or a partial line)`);
  const starts = events.filter((e) => e.event === 'run_start').length;
  if (starts > 1) {
    // --log-file appends, so one file can hold several runs: report the newest.
    let from = events.length - 1;
    while (events[from].event !== 'run_start') from--;
    events = events.slice(from);
    warnings.push(`${file}: holds ${starts} runs; reporting the last one`);
  }
  const last = (name: string) => events.filter((e) => e.event === name).pop();
  const row = (e: Obj, step: number | undefined): WindowRow => {
    const phases: WindowRow['phases'] = {};
    for (const p of PHASES) if (num(e, p) !== undefined) phases[p] = num(e, p);
    return { step, epoch: num(e, 'epoch'), loss: num(e, 'loss'), samplesPerSec: num(e, 'samplesPerSec'), phases };
  };
  const windows = events.filter((e) => e.event === 'progress').map((e) => row(e, num(e, 'step')));
  const epochs = events.filter((e) => e.event === 'epoch_end').map((e) => {
    const epoch = num(e, 'epoch');
    const steps = num(e, 'steps');
    // Every epoch has floor(rows / batch) steps, so epoch e ends at global step (e + 1) * steps.
    return row(e, epoch !== undefined && steps !== undefined ? (epoch + 1) * steps : undefined);
  });
  return {
    run: { runStart: last('run_start'), windows, epochs, evalEvent: last('eval'), runEnd: last('run_end'), runFailed: last('run_failed') },
    warnings,
  };
}

function confusionOf(evalEvent: Obj | undefined, split: 'train' | 'test', group: 'odd' | 'even'): ConfusionChart | undefined {
  const g = obj(obj(evalEvent, split), group);
  const m = g?.confusion;
  const square = Array.isArray(m) && m.length > 0 &&
    m.every((r) => Array.isArray(r) && r.length === m.length && r.every((v) => typeof v === 'number' && Number.isFinite(v)));
  return square ? { split, group, rows: num(g, 'rows'), accuracy: num(g, 'accuracy'), confusion: m as number[][] } : undefined;
}

interface Chart {
  file: string;
  caption: string;
  spec: TopLevelSpec;
}

/** Which charts the run has data for, in page order. */
export function chartsFor(run: RunLog): Chart[] {
  const charts: Chart[] = [];
  const has = (field: 'loss' | 'samplesPerSec') => [...run.windows, ...run.epochs].some((r) => r.step !== undefined && r[field] !== undefined);
  if (has('loss')) charts.push({ file: 'loss.svg', caption: 'Loss', spec: lossSpec(run.windows, run.epochs) });
  if (has('samplesPerSec')) charts.push({ file: 'throughput.svg', caption: 'Throughput', spec: throughputSpec(run.windows, run.epochs) });
  const hasPhases = (rows: WindowRow[]) => rows.some((r) => Object.keys(r.phases).length > 0);
  if (hasPhases(run.windows)) charts.push({ file: 'phases.svg', caption: 'Phases per step', spec: phasesSpec(run.windows, 'step', PHASES) });
  else if (hasPhases(run.epochs)) charts.push({ file: 'phases.svg', caption: 'Phases per step (per epoch)', spec: phasesSpec(run.epochs, 'epoch', PHASES) });
  for (const split of ['train', 'test'] as const) {
    for (const group of ['odd', 'even'] as const) {
      const c = confusionOf(run.evalEvent, split, group);
      const file = `confusion-${split === 'test' ? 'test-' : ''}${group}.svg`;
      if (c) charts.push({ file, caption: `Confusion, ${split} set, ${group}-labelled rows`, spec: confusionSpec(c) });
    }
  }
  return charts;
}

/** One Vega-Lite spec -> SVG markup (also used by bench/scale-chart.ts). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // renderer 'none': no DOM and no canvas; toSVG builds the markup from the scenegraph.
  const view = new View(parseVega(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const fixed = (x: number | undefined, digits = 4) => (x === undefined ? '-' : x.toFixed(digits));
const plural = (n: number | undefined, word: string) => `${n ?? '?'} ${word}${n === 1 ? '' : 's'}`;

export function runTitle(run: RunLog): string {
  const s = run.runStart;
  if (!s) return 'Training run (the log has no run_start event)';
  const config = obj(s, 'config');
  return `Training run: ${plural(num(s, 'numWorkers'), 'worker')}, batch ${num(config, 'batchSize') ?? '?'}, ` +
    `${plural(num(config, 'epochs'), 'epoch')}, mask ${String(config?.mask ?? '?')}, ${String(s.backend ?? '?')} backend`;
}

function indexHtml(logFile: string, run: RunLog, charts: Chart[]): string {
  const title = runTitle(run);
  const s = run.runStart;
  const config = obj(s, 'config');
  const facts = s
    ? [`started ${String(s.time ?? '?')}`, `${num(s, 'numParams') ?? '?'} parameters`, `${num(s, 'numTrain') ?? '?'} training rows`,
      `lr ${num(config, 'lr') ?? '?'}`, `normalize ${String(config?.normalize ?? '?')}`, `seed ${num(config, 'seed') ?? '?'}`]
    : [];
  const group = (g: Obj | undefined) => (g ? `${fixed(num(g, 'accuracy'))} <small>(${num(g, 'rows') ?? '?'} rows)</small>` : '-');
  const evalRows = (['train', 'test'] as const).flatMap((split) => {
    const r = obj(run.evalEvent, split);
    if (!r) return [];
    return [`<tr><th>${split}</th><td>${num(r, 'rows') ?? '-'}</td><td>${fixed(num(r, 'accuracy'))}</td>` +
      `<td>${group(obj(r, 'odd'))}</td><td>${group(obj(r, 'even'))}</td>` +
      `<td>${fixed(num(obj(r, 'condition1'), 'accuracy'))}</td><td>${fixed(num(obj(r, 'condition0'), 'accuracy'))}</td></tr>`];
  });
  const evalTable = evalRows.length === 0 ? '<p>No eval event in the log.</p>'
    : `<table><caption>Final eval (mask ${esc(run.evalEvent?.mask ?? '?')})</caption>\n<tr><th>split</th><th>rows</th><th>accuracy</th><th>odd-labelled</th><th>even-labelled</th><th>condition=1</th><th>condition=0</th></tr>\n${evalRows.join('\n')}\n</table>`;
  const end = run.runEnd;
  const endTable = end
    ? `<table><caption>run_end</caption>\n<tr><th>steps</th><th>seconds</th><th>final loss</th></tr>\n<tr><td>${num(end, 'steps') ?? '-'}</td><td>${fixed(num(end, 'seconds'), 3)}</td><td>${fixed(num(end, 'finalLoss'))}</td></tr>\n</table>`
    : '<p>No run_end event in the log: the run did not finish (or the log is cut short).</p>';
  const failed = run.runFailed ? `<p class="failed">run_failed: ${esc(JSON.stringify(run.runFailed.err ?? run.runFailed))}</p>` : '';
  const figures = charts.map((c) => `<figure><img src="${esc(c.file)}" alt="${esc(c.caption)}"><figcaption>${esc(c.caption)}</figcaption></figure>`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
caption { text-align: left; font-weight: bold; padding-bottom: 0.3em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
figure { display: inline-block; vertical-align: top; margin: 0 1.5em 1.5em 0; }
figcaption { color: #666; }
.failed { color: #b00; }
</style>
</head>
<body>
<h1>${esc(title)}</h1>
<p>${esc(facts.join(' · '))}${facts.length ? ' · ' : ''}log <code>${esc(basename(logFile))}</code></p>
${failed}
${evalTable}
${endTable}
${figures.join('\n')}
</body>
</html>
`;
}

/** The CLI: 0 on success, 2 on bad input (nothing written), 1 on an unexpected failure. */
export async function main(argv: string[]): Promise<number> {
  let args: { log: string; out: string };
  let log: ReturnType<typeof readLog>;
  try {
    const parsed = parseCli(argv);
    if (parsed === 'help') {
      process.stdout.write(HELP);
      return 0;
    }
    args = parsed;
    log = readLog(args.log);
    probeDir('--out', args.out);
  } catch (e) {
    if (e instanceof ReportInputError || e instanceof OutputError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  for (const w of log.warnings) process.stderr.write(`warning: ${w}\n`);
  // Render every chart before creating anything, so a failure leaves no half-written DIR.
  const charts = chartsFor(log.run);
  const files: [string, string][] = [];
  for (const c of charts) files.push([c.file, `${await renderSvg(c.spec)}\n`]);
  files.push(['index.html', indexHtml(args.log, log.run, charts)]);
  // Every file or none: on a failed write (a full disk), what this run wrote is removed.
  const written: string[] = [];
  let created: string[] = [];
  try {
    created = makeDirs(args.out);
    for (const [name, text] of files) {
      const path = join(args.out, name);
      written.push(path);
      try {
        writeFileSync(path, text);
      } catch (e) {
        throw asWriteError(e, path);
      }
    }
  } catch (e) {
    for (const path of written) rmSync(path, { force: true });
    for (const dir of created.reverse()) rmSync(dir, { recursive: true, force: true });
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 1;
  }
  for (const path of written) process.stdout.write(`${path}\n`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e: unknown) => {
      process.stderr.write(`error: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
