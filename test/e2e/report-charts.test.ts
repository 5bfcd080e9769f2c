// The run report CLI (dist/src/report/charts.js) on real files: the oracle is the log
// itself. Every chart's marks, read back from the SVG through the aria-labels Vega writes
// on each mark, must carry exactly the values of the events they plot; index.html must
// show every chart written; bad input exits 2 with one line and creates nothing.
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { runCli, tmpDir } from '../helpers.js';
import type { CliRun } from '../helpers.js';

const CLI = 'src/cli/report.js';
const STEPS_PER_EPOCH = 30;

// ---- a realistic log: the fields of a real run (npm run train -- --progress-every 10) ----

type Event = Record<string, unknown>;
let clock = Date.parse('2026-11-27T21:32:47.420Z');
const line = (event: string, fields: Event): Event => ({ level: 30, time: new Date((clock += 150)).toISOString(), event, ...fields, msg: event });

/** confusion[true][predicted] for the rows of one parity: mostly right, a few odd predictions. */
function confusion(parity: 1 | 0, seed: number): number[][] {
  return Array.from({ length: 10 }, (_, t) => Array.from({ length: 10 }, (_, p) => {
    if (t % 2 !== parity || p % 2 === 0) return 0; // the masked model predicts odd digits only
    return t === p ? 900 + 37 * t + seed : (t * 7 + p * 3 + seed) % 23;
  }));
}
const group = (parity: 1 | 0, seed: number) => {
  const m = confusion(parity, seed);
  const rows = m.flat().reduce((a, b) => a + b, 0);
  const diag = m.reduce((a, r, t) => a + r[t], 0);
  return { rows, accuracy: diag / rows, confusion: m };
};
const split = (seed: number) => {
  const odd = group(1, seed);
  const even = group(0, seed);
  return {
    rows: odd.rows + even.rows, accuracy: (odd.accuracy * odd.rows) / (odd.rows + even.rows), odd, even,
    condition1: { rows: odd.rows, accuracy: odd.accuracy }, condition0: { rows: even.rows, accuracy: 0 },
    perClassAccuracy: new Array(10).fill(0.5), trueCounts: new Array(10).fill(100), predCounts: new Array(10).fill(100),
  };
};

const phases = (k: number, withDispatch = true) => ({
  computeMs: 6 + k, waitMs: 2 + k / 2, reduceMs: 0.25, ...(withDispatch ? { dispatchMs: 0.3 + k / 10 } : {}), adamMs: 0.7,
});

const runStart = (numWorkers = 2) => line('run_start', {
  config: { workers: numWorkers, epochs: 2, batchSize: 128, lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-7, seed: 42, mask: 'odd', normalize: 'batch', progressEvery: 10, logLevel: 'info', logFile: null, backend: 'wasm', data: null, limit: 3840, model: { hidden: [{ units: 64, activation: 'relu' }], numClasses: 10 } },
  backend: 'wasm', numParams: 50890, numWorkers, numTrain: 3840, numTest: 10000, inputSize: 784, startupMs: 412.5,
});
const progress = [10, 20, 30, 40, 50, 60].map((step, k) => line('progress', {
  epoch: Math.floor((step - 1) / STEPS_PER_EPOCH), step, loss: 0.9 / (k + 1), seconds: 0.2, samplesPerSec: 5000 + 1000 * k,
  stepMsMedian: 12 - k, stepMsP90: 30 - k, ...phases(k),
}));
const epochEnd = (epoch: number, withDispatch = true) => line('epoch_end', {
  epoch, steps: STEPS_PER_EPOCH, loss: 0.5 / (epoch + 1), seconds: 0.9, samplesPerSec: 9000 + 500 * epoch,
  stepMsMedian: 6, stepMsP90: 16, ...phases(epoch, withDispatch), ...(epoch === 0 ? { timeToFirstStepMs: 1415.6 } : {}),
});
const evalEvent = (withTest = true) => line('eval', { mask: 'odd', ms: 203, train: split(0), ...(withTest ? { test: split(5) } : {}) });
const runEnd = line('run_end', { steps: 2 * STEPS_PER_EPOCH, seconds: 2.081, finalLoss: 0.25, peakRssMB: 241.7 });
const FULL_LOG = [runStart(), ...progress.slice(0, 3), epochEnd(0), ...progress.slice(3), epochEnd(1), evalEvent(), runEnd];

// ---- helpers: write a log, run the CLI, read marks back from an SVG ----

function writeLog(dir: string, events: Event[], extraLines: string[] = []): string {
  const file = join(dir, 'run.ndjson');
  writeFileSync(file, [...events.map((e) => JSON.stringify(e)), ...extraLines].join('\n') + '\n');
  return file;
}

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_', textNodeName: '#text', isArray: (name) => ['g', 'path', 'text'].includes(name) });

/** Parses an SVG file after checking it is one well-formed document. */
function readSvg(file: string): unknown {
  const text = readFileSync(file, 'utf8').trim();
  expect(text.startsWith('<svg')).toBe(true);
  expect(text.endsWith('</svg>')).toBe(true);
  expect(XMLValidator.validate(text)).toBe(true);
  return xml.parse(text);
}

/** The marks (path or text elements) of the Vega mark group named `${name}_marks`. */
function marks(svg: unknown, name: string, tag: 'path' | 'text'): Record<string, unknown>[] {
  const found: Record<string, unknown>[][] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (typeof node !== 'object' || node === null) return;
    const n = node as Record<string, unknown>;
    if (typeof n['@_class'] === 'string' && n['@_class'].split(' ').includes(`${name}_marks`)) found.push((n[tag] as Record<string, unknown>[] | undefined) ?? []);
    for (const [k, v] of Object.entries(n)) if (!k.startsWith('@_')) walk(v);
  };
  walk(svg);
  expect(found).toHaveLength(1);
  return found[0];
}

/** Vega's aria-label of a mark, "step: 10; loss: 0.9", as fields (numbers where numeric). */
function fields(mark: Record<string, unknown>): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const part of String(mark['@_aria-label']).split('; ')) {
    const [k, v] = part.split(': ');
    const n = Number(v.replace(/,/g, ''));
    out[k] = Number.isFinite(n) ? n : v;
  }
  return out;
}

const CHARTS = ['loss.svg', 'throughput.svg', 'phases.svg', 'confusion-odd.svg', 'confusion-even.svg', 'confusion-test-odd.svg', 'confusion-test-even.svg'];

describe('report CLI on a full log', () => {
  const dir = tmpDir('report-test-');
  const out = join(dir, 'nested', 'report');
  let r: CliRun;
  beforeAll(() => {
    r = runCli(CLI, ['--log', writeLog(dir, FULL_LOG), '--out', out]);
  });

  it('exits 0, prints one path per file written, warns about nothing', () => {
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([...CHARTS, 'index.html'].map((f) => join(out, f)));
    expect(readdirSync(out).sort()).toEqual([...CHARTS, 'index.html'].sort());
  });

  it('loss.svg: one point per progress event and per epoch, at (step, loss)', () => {
    const svg = readSvg(join(out, 'loss.svg'));
    const steps = marks(svg, 'step_points', 'path').map(fields);
    expect(steps.map((f) => f.step)).toEqual(progress.map((e) => e.step));
    steps.forEach((f, i) => expect(f.loss).toBeCloseTo(progress[i].loss as number, 9));
    const epochs = marks(svg, 'epoch_points', 'path').map(fields);
    // x of an epoch is the global step at its end: (epoch + 1) * steps.
    expect(epochs.map((f) => f.step)).toEqual([STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH]);
    expect(epochs.map((f) => f.loss)).toEqual([0.5, 0.25]);
    expect(marks(svg, 'step_line', 'path')).toHaveLength(1);
    expect(marks(svg, 'epoch_line', 'path')).toHaveLength(1);
  });

  it('throughput.svg: samples/s of every progress window', () => {
    const points = marks(readSvg(join(out, 'throughput.svg')), 'step_points', 'path').map(fields);
    expect(points.map((f) => [f.step, f['samples / s']])).toEqual(progress.map((e) => [e.step, e.samplesPerSec]));
  });

  it('phases.svg: one stacked bar segment per progress window and phase, in ms per step', () => {
    const bars = marks(readSvg(join(out, 'phases.svg')), 'phase_bars', 'path').map(fields);
    const expected = progress.flatMap((e) => ['compute', 'wait', 'reduce', 'dispatch', 'adam'].map((p) => [e.step, p, e[`${p}Ms`]]));
    expect(bars.map((f) => [f.step, f.phase, f['ms per step']]).sort()).toEqual(expected.sort());
  });

  it('confusion heat maps: a cell per (true, predicted) of every true label with rows, its count as text', () => {
    for (const [file, m] of [['confusion-odd.svg', split(0).odd.confusion], ['confusion-even.svg', split(0).even.confusion],
      ['confusion-test-odd.svg', split(5).odd.confusion], ['confusion-test-even.svg', split(5).even.confusion]] as const) {
      const svg = readSvg(join(out, file));
      const texts = marks(svg, 'counts', 'text');
      const fromSvg = texts.map((t) => { const f = fields(t); return [f['true label'], f.predicted, Number(t['#text'])]; });
      const fromLog = m.flatMap((row, t) => (row.some((v) => v !== 0) ? row.map((count, p) => [t, p, count]) : []));
      expect(fromSvg.sort()).toEqual(fromLog.sort());
      expect(texts).toHaveLength(5 * 10); // five true labels of one parity x ten predicted
      expect(marks(svg, 'cells', 'path')).toHaveLength(5 * 10);
    }
  });

  it('index.html: titled with the run, shows every SVG written, and the final numbers', () => {
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).toContain('<title>Training run: 2 workers, batch 128, 2 epochs, mask odd, wasm backend</title>');
    const srcs = [...html.matchAll(/<img src="([^"]+)"/g)].map((m) => m[1]);
    expect(srcs.sort()).toEqual([...CHARTS].sort());
    for (const src of srcs) expect(existsSync(join(out, src))).toBe(true);
    for (const s of [split(0), split(5)]) {
      expect(html).toContain(`<td>${s.odd.accuracy.toFixed(4)} <small>(${s.odd.rows} rows)</small></td>`);
      expect(html).toContain(`<td>${s.even.accuracy.toFixed(4)} <small>(${s.even.rows} rows)</small></td>`);
    }
    expect(html).toContain('<tr><td>60</td><td>2.081</td><td>0.2500</td></tr>');
  });
});

describe('report CLI on partial and older logs', () => {
  it('no progress events, no dispatchMs, no test split: phases per epoch, no test heat maps', () => {
    const dir = tmpDir('report-test-');
    const out = join(dir, 'out');
    const r = runCli(CLI, ['--log', writeLog(dir, [runStart(), epochEnd(0, false), epochEnd(1, false), evalEvent(false)]), '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['confusion-even.svg', 'confusion-odd.svg', 'index.html', 'loss.svg', 'phases.svg', 'throughput.svg']);
    const bars = marks(readSvg(join(out, 'phases.svg')), 'phase_bars', 'path').map(fields);
    expect(bars.map((f) => [f.epoch, f.phase]).sort()).toEqual([0, 1].flatMap((e) => ['compute', 'wait', 'reduce', 'adam'].map((p) => [e, p])).sort());
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).not.toContain('confusion-test');
    expect(html).toContain('No run_end event');
  });

  it('skips lines that are not JSON (pino-pretty, a cut last line) with a one-line warning', () => {
    const dir = tmpDir('report-test-');
    const log = writeLog(dir, FULL_LOG.slice(0, 5), ['[21:32:47.694] INFO: progress', '{"level":30,"time":"2026-11-27T21:32:48.002Z","event":"progr']);
    const r = runCli(CLI, ['--log', log, '--out', join(dir, 'out')]);
    expect(r.status).toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([`warning: ${log}: skipped 2 lines that are not JSON (pino-pretty output or a partial line)`]);
    expect(marks(readSvg(join(dir, 'out', 'loss.svg')), 'step_points', 'path')).toHaveLength(3);
  });

  it('a log appended by two runs: reports the last one', () => {
    const dir = tmpDir('report-test-');
    const log = writeLog(dir, [runStart(4), ...progress.slice(0, 2), runStart(3), ...progress.slice(0, 4)]);
    const r = runCli(CLI, ['--log', log, '--out', join(dir, 'out')]);
    expect(r.status).toBe(0);
    expect(r.stderr.trim()).toBe(`warning: ${log}: holds 2 runs; reporting the last one`);
    expect(readFileSync(join(dir, 'out', 'index.html'), 'utf8')).toContain('<title>Training run: 3 workers,');
    expect(marks(readSvg(join(dir, 'out', 'loss.svg')), 'step_points', 'path')).toHaveLength(4);
  });
});

describe('report CLI errors: exit 2, one line naming the flag or file, nothing written', () => {
  const dir = tmpDir('report-test-');
  const good = writeLog(dir, FULL_LOG);
  const junk = join(dir, 'junk.ndjson');
  writeFileSync(junk, 'not json\n{"level":30,"msg":"some other program"}\n[1,2]\n');
  const empty = join(dir, 'empty.ndjson');
  writeFileSync(empty, '');
  const out = join(dir, 'never', 'created');
  const cases: [string[], string][] = [
    [[], 'error: --log: required (the NDJSON log of a training run)'],
    [['--log', good], 'error: --out: required (the directory to write the charts to)'],
    [['--out', out], 'error: --log: required (the NDJSON log of a training run)'],
    [['--log', good, '--out', out, '--frobnicate'], 'error: --frobnicate: unknown flag (see --help)'],
    [['--out', out, '--log'], 'error: --log: needs a value'],
    [['--log', '--out', out], 'error: --log: needs a value'],
    [['--log', good, '--out', out, 'extra'], 'error: "extra": unexpected argument; pass the log with --log (see --help)'],
    [['--log', join(dir, 'missing.ndjson'), '--out', out], `error: ${join(dir, 'missing.ndjson')}: log file not found`],
    [['--log', junk, '--out', out], `error: ${junk}: no trainer events found`],
    [['--log', empty, '--out', out], `error: ${empty}: no trainer events found`],
  ];
  for (const [args, message] of cases) {
    it(`report ${args.map((a) => a.replace(dir, 'TMP')).join(' ')} -> ${message.replace(dir, 'TMP')}`, () => {
      const r = runCli(CLI, args);
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([message]);
      expect(r.stdout).toBe('');
      expect(existsSync(join(dir, 'never'))).toBe(false);
    });
  }

  it('--help names every flag and the output, exits 0', () => {
    const r = runCli(CLI, ['--help']);
    expect(r.status).toBe(0);
    for (const s of ['--log FILE', '--out DIR', '--help', 'index.html', 'one line on stdout per file written']) expect(r.stdout).toContain(s);
  });
});
