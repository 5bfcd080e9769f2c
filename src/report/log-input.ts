// A training run's NDJSON log, read and checked once: the trainer events of its last
// run, and the warnings to print. No chart library is loaded here.
import { readFileSync } from 'node:fs';
import type { WindowRow } from './chart-specs.js';
import { LEGACY_PHASES, PHASES } from '../metrics/step-stats.js';

export class ReportInputError extends Error {
  readonly code = 'E_REPORT_INPUT';
}

export type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const num = (o: Obj | undefined, key: string): number | undefined => {
  const v = o?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
};
export const obj = (o: Obj | undefined, key: string): Obj | undefined => (isObj(o?.[key]) ? (o[key] as Obj) : undefined);

const TRAINER_EVENTS = new Set(['run_start', 'progress', 'epoch_end', 'eval', 'run_end', 'run_failed']);

/** The events of one run, checked once here; everything downstream reads these. */
export interface ParsedLog {
  runStart: Obj | undefined;
  windows: WindowRow[];
  epochs: WindowRow[];
  evalEvent: Obj | undefined;
  runEnd: Obj | undefined;
  runFailed: Obj | undefined;
}

/** Reads the log: trainer events of the last run, and the warnings to print. */
export function readLog(file: string): { run: ParsedLog; warnings: string[] } {
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
    for (const p of [...PHASES, ...LEGACY_PHASES]) if (num(e, p) !== undefined) phases[p] = num(e, p);
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

