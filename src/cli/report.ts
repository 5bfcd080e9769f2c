// `tfjs-parallel-trainer report` (npm run report -- --log run.ndjson --out DIR): a
// training run's NDJSON log -> SVG charts and an index.html (src/report/charts.ts, loaded
// only here: a program that never draws charts never loads vega).
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { readLog, ReportInputError } from '../report/log-input.js';
import { asWriteError, makeDirs, probeDir } from '../files/outputs.js';
import { exitCodeOf, isInputError } from './command.js';

export const HELP = `Usage: tfjs-parallel-trainer report --log FILE --out DIR
       (in this repository: npm run report -- --log FILE --out DIR)

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
    if (!isInputError(e)) throw e;
    process.stderr.write(`error: ${e.message}\n`);
    return exitCodeOf(e);
  }
  for (const w of log.warnings) process.stderr.write(`warning: ${w}\n`);
  // Render every chart before creating anything, so a failure leaves no half-written DIR.
  const { chartsFor, indexHtml, renderSvg } = await import('../report/charts.js');
  const charts = chartsFor(log.run);
  const files: [string, string][] = [];
  for (const c of charts) files.push([c.file, `${await renderSvg(c.spec)}\n`]);
  files.push(['index.html', indexHtml(args.log, log.run, charts)]);
  // On a failed write (a full disk), the files and directories this run created are
  // removed again; files of an earlier report that were there before are left alone.
  const written: string[] = [];
  const createdFiles: string[] = [];
  let createdDirs: string[] = [];
  try {
    createdDirs = makeDirs(args.out);
    for (const [name, text] of files) {
      const path = join(args.out, name);
      if (!existsSync(path)) createdFiles.push(path);
      try {
        writeFileSync(path, text);
      } catch (e) {
        throw asWriteError(e, path);
      }
      written.push(path);
    }
  } catch (e) {
    for (const path of createdFiles) rmSync(path, { force: true });
    for (const dir of createdDirs.reverse()) rmSync(dir, { recursive: true, force: true });
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return exitCodeOf(e);
  }
  for (const path of written) process.stdout.write(`${path}\n`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`error: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  });
}

