// The scaling chart: speedup over one worker against the worker count, one line per
// batch size, ideal linear scaling for reference, projections dashed. Vega-Lite spec,
// rendered to SVG by Vega's headless view.
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg } from '../src/report/charts.js';
import type { Cell } from './projection.js';

export async function scaleChartSvg(cells: Cell[], projected: { batch: number; workers: number; speedup: number }[], mode: string): Promise<string> {
  const measured = cells.map((c) => ({ workers: c.workers, speedup: c.speedup, series: `batch ${c.batch} (measured)` }));
  const proj = projected.map((p) => ({ workers: p.workers, speedup: p.speedup, series: `batch ${p.batch} (projected)` }));
  const maxWorkers = Math.max(...cells.map((c) => c.workers), ...projected.map((p) => p.workers));
  const ideal = [1, maxWorkers].map((w) => ({ workers: w, speedup: w, series: 'ideal (linear)' }));
  const x = { field: 'workers', type: 'quantitative', title: 'workers', scale: { type: 'log', base: 2 } } as const;
  const y = { field: 'speedup', type: 'quantitative', title: 'speedup over 1 worker (samples/s ratio)', scale: { type: 'log', base: 2 } } as const;
  const color = { field: 'series', type: 'nominal', title: null } as const;
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Scaling (${mode} mode): measured, projected (dashed) and ideal`,
    width: 560,
    height: 340,
    config: { legend: { orient: 'right', labelLimit: 0 } },
    layer: [
      { data: { values: ideal }, mark: { type: 'line', color: '#999', strokeDash: [2, 2] }, encoding: { x, y, color } },
      { data: { values: measured }, mark: { type: 'line', point: true }, encoding: { x, y, color } },
      { data: { values: proj }, mark: { type: 'line', point: true, strokeDash: [6, 4] }, encoding: { x, y, color } },
    ],
  };
  return renderSvg(spec);
}
