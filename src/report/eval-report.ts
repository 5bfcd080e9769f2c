// The evaluation's reports (src/metrics/eval.ts) as readable text: what the CLI prints
// on stderr at the end of a run and `npm run eval` prints.
import type { EvalReport, GroupReport, LossReport, SplitReport, TaskSplitReport } from '../metrics/eval.js';


function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0].map((_, j) => Math.max(...cells.map((r) => r[j].length)));
  return cells.map((r) => r.map((s, j) => s.padStart(widths[j])).join('  ')).join('\n');
}

function confusionTable(title: string, g: GroupReport): string {
  const n = g.confusion.length;
  const head = ['true\\pred', ...Array.from({ length: n }, (_, k) => k)];
  const body = g.confusion.map((row, y) => [y, ...row]).filter((r) => r.slice(1).some((v) => v !== 0));
  return `${title}: accuracy ${g.accuracy.toFixed(4)} on ${g.rows} rows\n${table([head, ...body])}`;
}

/** Per class: true and predicted counts and accuracy. */
function classTable(r: SplitReport): string {
  const classes = Array.from({ length: r.trueCounts.length }, (_, k) => k);
  return table([
    ['class', ...classes],
    ['true count', ...r.trueCounts],
    ['pred count', ...r.predCounts],
    ['accuracy', ...r.perClassAccuracy.map((a) => a.toFixed(3))],
  ]);
}

/** The report as readable text (printed on stderr at the end of a run). */
export function formatReport(name: string, r: SplitReport): string {
  return [
    `== ${name} set: ${r.rows} rows, accuracy ${r.accuracy.toFixed(4)} ` +
      `(condition=1: ${r.condition1.accuracy.toFixed(4)} on ${r.condition1.rows}; condition=0: ${r.condition0.accuracy.toFixed(4)} on ${r.condition0.rows})`,
    confusionTable('odd-labelled rows', r.odd),
    confusionTable('even-labelled rows', r.even),
    classTable(r),
  ].join('\n\n');
}


/** A task's report as readable text. */
export function formatTaskReport(name: string, r: TaskSplitReport): string {
  const split = r.weighted && r.unweighted
    ? ` (weight > 0: ${r.weighted.accuracy.toFixed(4)} on ${r.weighted.rows}; weight 0: ${r.unweighted.accuracy.toFixed(4)} on ${r.unweighted.rows})`
    : '';
  return [
    `== ${name} set: ${r.rows} rows, accuracy ${r.accuracy.toFixed(4)}${split}, mean loss ${r.loss.toFixed(4)}${metricsText(r.metrics)}`,
    confusionTable('all rows', { rows: r.rows, accuracy: r.accuracy, confusion: r.confusion }),
    classTable(r),
  ].join('\n\n');
}

/** A task's report without class columns as readable text: its mean loss. */
export function formatLossReport(name: string, r: LossReport): string {
  return `== ${name} set: ${r.rows} rows, mean loss ${r.loss.toFixed(4)}${metricsText(r.metrics)}`;
}

/** A task's metrics after its loss: `, mae 0.0123, mse 0.0004`. */
const metricsText = (metrics: Record<string, number> | undefined) => Object.entries(metrics ?? {}).map(([name, v]) => `, ${name} ${v.toFixed(4)}`).join('');

/** Any split's report as readable text: the seed's, a task's with class columns, or a task's mean loss. */
export const formatAnyReport = (name: string, r: EvalReport): string =>
  !('accuracy' in r) ? formatLossReport(name, r) : 'loss' in r ? formatTaskReport(name, r) : formatReport(name, r);
