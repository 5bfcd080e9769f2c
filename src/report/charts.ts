// The charts of a run: one SVG per view (Vega-Lite specs from chart-specs.ts, compiled
// to Vega and rendered headless to SVG strings) and an index.html showing them with the
// run's settings and final numbers. Loaded only by the report command.
import { basename } from 'node:path';
import { View, parse as parseVega } from 'vega';
import { compile } from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import { confusionSpec, lossSpec, phasesSpec, throughputSpec } from './chart-specs.js';
import type { ConfusionChart, WindowRow } from './chart-specs.js';
import { num, obj } from './log-input.js';
import { LEGACY_PHASES, PHASES } from '../metrics/step-stats.js';
import type { Obj, ParsedLog } from './log-input.js';

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
export function chartsFor(run: ParsedLog): Chart[] {
  const charts: Chart[] = [];
  const has = (field: 'loss' | 'samplesPerSec') => [...run.windows, ...run.epochs].some((r) => r.step !== undefined && r[field] !== undefined);
  if (has('loss')) charts.push({ file: 'loss.svg', caption: 'Loss', spec: lossSpec(run.windows, run.epochs) });
  if (has('samplesPerSec')) charts.push({ file: 'throughput.svg', caption: 'Throughput', spec: throughputSpec(run.windows, run.epochs) });
  const hasPhases = (rows: WindowRow[]) => rows.some((r) => Object.keys(r.phases).length > 0);
  if (hasPhases(run.windows)) charts.push({ file: 'phases.svg', caption: 'Phases per step', spec: phasesSpec(run.windows, 'step', [...PHASES, ...LEGACY_PHASES]) });
  else if (hasPhases(run.epochs)) charts.push({ file: 'phases.svg', caption: 'Phases per step (per epoch)', spec: phasesSpec(run.epochs, 'epoch', [...PHASES, ...LEGACY_PHASES]) });
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

function runTitle(run: ParsedLog): string {
  const s = run.runStart;
  if (!s) return 'Training run (the log has no run_start event)';
  const config = obj(s, 'config');
  return `Training run: ${plural(num(s, 'numWorkers'), 'worker')}, batch ${num(config, 'batchSize') ?? '?'}, ` +
    `${plural(num(config, 'epochs'), 'epoch')}, mask ${String(config?.mask ?? '?')}, ${String(s.backend ?? '?')} backend`;
}

export function indexHtml(logFile: string, run: ParsedLog, charts: Chart[]): string {
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
