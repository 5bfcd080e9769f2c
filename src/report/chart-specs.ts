// The Vega-Lite specs of the run report: pure functions from a run's parsed log rows to
// one chart spec each. No I/O and no rendering (src/report/charts.ts does both), so a
// spec can be inspected or compiled on its own.
import type { TopLevelSpec } from 'vega-lite';
import type { LogPhase } from '../metrics/step-stats.js';

/** One `progress` window or one `epoch_end`: only the fields the report reads. */
export interface WindowRow {
  /** The global step at the end of the window (for an epoch: (epoch + 1) * steps). */
  step: number | undefined;
  epoch: number | undefined;
  loss: number | undefined;
  samplesPerSec: number | undefined;
  /** Mean ms per step of each phase the event carries; older logs lack some. */
  phases: Partial<Record<LogPhase, number>>;
}

/** One confusion matrix of the `eval` event, `confusion[true][predicted]`. */
export interface ConfusionChart {
  split: 'train' | 'test';
  group: 'odd' | 'even';
  rows: number | undefined;
  accuracy: number | undefined;
  confusion: number[][];
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const WIDTH = 640;
const HEIGHT = 300;
// Fixed colours per series and phase, so two reports of different runs read the same.
const SERIES_COLORS = ['#4c78a8', '#e45756'];
const PHASE_COLORS: Record<LogPhase, string> = {
  computeMs: '#4c78a8', updateMs: '#72b7b2', waitMs: '#f58518', reduceMs: '#54a24b', dispatchMs: '#b279a2', adamMs: '#e45756',
};

/** The step windows and the epoch means of one field as two series with a legend. */
function stepAndEpochSpec(title: string, field: 'loss' | 'samplesPerSec', yTitle: string, windows: WindowRow[], epochs: WindowRow[]): TopLevelSpec {
  const points = (rows: WindowRow[]) => rows.flatMap((r) => (r.step !== undefined && r[field] !== undefined ? [{ step: r.step, epoch: r.epoch, [field]: r[field] }] : []));
  const stepName = 'per step (progress window mean)';
  const epochName = 'per epoch (epoch_end mean)';
  const x = { field: 'step', type: 'quantitative', title: 'step' } as const;
  const y = { field, type: 'quantitative', title: yTitle, scale: { zero: field === 'samplesPerSec' } } as const;
  const color = (name: string) => ({ datum: name, type: 'nominal', title: null, scale: { domain: [stepName, epochName], range: SERIES_COLORS } }) as const;
  return {
    $schema: SCHEMA,
    title,
    width: WIDTH,
    height: HEIGHT,
    config: { legend: { orient: 'top', labelLimit: 0 } },
    layer: [
      // Named layers: the SVG groups are then `step_points_marks` and so on, which the
      // tests count.
      { name: 'step_line', data: { values: points(windows) }, mark: { type: 'line', strokeWidth: 1.5 }, encoding: { x, y, color: color(stepName) } },
      { name: 'step_points', data: { values: points(windows) }, mark: { type: 'point', filled: true, size: 18 }, encoding: { x, y, color: color(stepName) } },
      { name: 'epoch_line', data: { values: points(epochs) }, mark: { type: 'line', strokeDash: [6, 4], strokeWidth: 2 }, encoding: { x, y, color: color(epochName) } },
      { name: 'epoch_points', data: { values: points(epochs) }, mark: { type: 'point', filled: true, size: 90, shape: 'diamond' }, encoding: { x, y, color: color(epochName) } },
    ],
  };
}

export function lossSpec(windows: WindowRow[], epochs: WindowRow[]): TopLevelSpec {
  return stepAndEpochSpec('Loss (masked cross-entropy / normaliser)', 'loss', 'loss', windows, epochs);
}

export function throughputSpec(windows: WindowRow[], epochs: WindowRow[]): TopLevelSpec {
  return stepAndEpochSpec('Throughput', 'samplesPerSec', 'samples / s', windows, epochs);
}

/**
 * Stacked bars of the mean ms per step of each phase, one bar per progress window (x =
 * step), or per epoch when the log has no progress events. A phase an event does not
 * carry is left out of its bar, not drawn as zero.
 */
export function phasesSpec(rows: WindowRow[], by: 'step' | 'epoch', phases: readonly LogPhase[]): TopLevelSpec {
  const present = phases.filter((p) => rows.some((r) => r.phases[p] !== undefined));
  const values = rows.flatMap((r) => {
    const x = by === 'step' ? r.step : r.epoch;
    if (x === undefined) return [];
    return present.flatMap((p, order) => (r.phases[p] === undefined ? [] : [{ [by]: x, phase: p.replace(/Ms$/, ''), order, ms: r.phases[p] }]));
  });
  return {
    $schema: SCHEMA,
    title: by === 'step' ? 'Where a step goes (mean ms per step, each progress window)' : 'Where a step goes (mean ms per step, each epoch)',
    width: WIDTH,
    height: HEIGHT,
    config: { legend: { orient: 'top' } },
    name: 'phase_bars',
    data: { values },
    mark: 'bar',
    encoding: {
      x: { field: by, type: 'ordinal', title: by, axis: { labelAngle: 0, labelOverlap: 'parity' } },
      y: { field: 'ms', type: 'quantitative', title: 'ms per step', stack: 'zero' },
      color: {
        field: 'phase', type: 'nominal', title: 'phase',
        scale: { domain: present.map((p) => p.replace(/Ms$/, '')), range: present.map((p) => PHASE_COLORS[p]) },
      },
      order: { field: 'order', type: 'quantitative' },
    },
  };
}

/**
 * A heat map of true label (y) against predicted label (x), the count in each cell.
 * True labels with no rows (the even digits in the odd matrix) are left out, as the
 * text report on stderr does; every predicted label stays.
 */
export function confusionSpec(c: ConfusionChart): TopLevelSpec {
  const n = c.confusion.length;
  const kept = c.confusion.map((_, t) => t).filter((t) => c.confusion[t].some((v) => v !== 0));
  const trueLabels = kept.length > 0 ? kept : c.confusion.map((_, t) => t);
  const values = trueLabels.flatMap((t) => c.confusion[t].map((count, p) => ({ true: t, predicted: p, count })));
  const max = Math.max(1, ...values.map((v) => v.count));
  const groupName = c.group === 'odd' ? 'odd-labelled rows' : 'even-labelled rows';
  const acc = c.accuracy === undefined ? '' : `: accuracy ${c.accuracy.toFixed(4)}`;
  const rows = c.rows === undefined ? '' : ` on ${c.rows} rows`;
  const axis = (title: string) => ({ field: title === 'predicted' ? 'predicted' : 'true', type: 'ordinal', title, axis: { labelAngle: 0 } }) as const;
  return {
    $schema: SCHEMA,
    title: { text: `${c.split} set, ${groupName}${acc}${rows}`, subtitle: 'true label (rows) x predicted label (columns)' },
    width: { step: Math.max(28, Math.min(48, Math.floor(480 / n))) },
    height: { step: 28 },
    data: { values },
    encoding: { x: axis('predicted'), y: axis('true label') },
    layer: [
      {
        name: 'cells',
        mark: { type: 'rect', stroke: '#ffffff', strokeWidth: 1 },
        // A square-root scale so the off-diagonal counts (tens next to thousands on the
        // diagonal) still show; 0 is near-white.
        encoding: { color: { field: 'count', type: 'quantitative', title: 'count', scale: { type: 'sqrt', domain: [0, max], range: ['#f7fbff', '#08519c'] } } },
      },
      {
        name: 'counts',
        mark: { type: 'text', fontSize: 11 },
        encoding: {
          text: { field: 'count', type: 'quantitative', format: 'd' },
          // White text on the dark cells (above half the colour range: sqrt(count / max) > 0.5).
          color: { condition: { test: `datum.count > ${max / 4}`, value: '#ffffff' }, value: '#222222' },
        },
      },
    ],
  };
}
