// `tfjs-parallel-trainer train` (npm run train): flags -> the training session that
// train() runs too (src/run/session.ts), with signals, exit codes and the printed
// report. Exit 0 done, 2 bad input (one line on stderr, nothing written), 1 failure,
// 130/143 signal.
import { pathToFileURL } from 'node:url';
import { HelpRequested, HELP, resolveConfig } from '../settings/config.js';
import { createLogger } from '../run/log.js';
import type { Logger } from '../run/log.js';
import { formatAnyReport } from '../report/eval-report.js';
import { runSession } from '../run/session.js';
import { exitCodeOf } from './command.js';

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * After the first signal the run has this long to stop on its own (finish the step in
 * flight, checkpoint, shut the pool down); then the process exits regardless, whatever
 * it is doing (loading, evaluating, failing, waiting on a hung thread). A checkpoint
 * write is synchronous, so this never cuts one in half (and a cut one would only leave
 * a `.tmp-*` that the next run removes).
 */
const SIGNAL_GRACE_MS = 1500;

/**
 * One turn of the event loop that includes its poll phase, where a signal that arrived
 * during synchronous work is delivered (setImmediate could run before it).
 */
const seeSignals = () => new Promise<void>((resolve) => setTimeout(resolve, 10));

/** The CLI: exit 0 done, 2 bad input (one line on stderr, nothing written), 1 failure, 130/143 signal. */
export async function main(argv: string[]): Promise<number> {
  // SIGINT / SIGTERM: finish the step in flight, checkpoint, exit 130 / 143. A second
  // signal exits at once (the log is written synchronously, so no line is lost).
  // Installed first, so that a signal in any phase takes effect.
  let log: Logger | null = null;
  const abort = new AbortController(); // its reason is the first signal's name
  const stopRequested = () => (abort.signal.aborted ? (abort.signal.reason as NodeJS.Signals) : null);
  let watchdog: NodeJS.Timeout | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) process.exit(SIGNAL_EXIT[signal]);
    abort.abort(signal);
    watchdog = setTimeout(() => {
      log?.warn({ event: 'run_stopped', signal, forced: true, graceMs: SIGNAL_GRACE_MS }, 'run_stopped');
      process.exit(SIGNAL_EXIT[signal]);
    }, SIGNAL_GRACE_MS).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await runCli(argv, stopRequested, abort.signal, (l) => { log = l; });
  } finally {
    clearTimeout(watchdog);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function runCli(argv: string[], stopRequested: () => NodeJS.Signals | null, signal: AbortSignal, setLog: (log: Logger) => void): Promise<number> {
  let result;
  try {
    result = await runSession({
      resolve: (base, crossChecks) => resolveConfig(argv, base, crossChecks),
      logger: (config) => {
        const logger = createLogger(config.logLevel, config.logFile, config.logFormat);
        setLog(logger.log);
        return logger;
      },
      signal,
      progressLine: true,
      onInvalidCheckpoint: (_checkpoint, problem) => process.stderr.write(`warning: skipping invalid checkpoint: ${problem}\n`),
      // Loading is synchronous: a signal that came meanwhile is handled now, before any
      // thread is started.
      beforeStart: seeSignals,
    });
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(HELP);
      return 0;
    }
    await seeSignals(); // a signal during the failure still ends the run as a signal
    process.stderr.write(`error: ${(e as Error).message.split('\n')[0]}\n`);
    const stop = stopRequested();
    return stop ? SIGNAL_EXIT[stop] : exitCodeOf(e);
  }
  if (result.stoppedBy) return SIGNAL_EXIT[result.stoppedBy];
  // The report of each split evaluated (--eval), a task's with its loss.
  const { train, test } = result.eval ?? {};
  const parts = [train && formatAnyReport('training', train), test && formatAnyReport('test', test)].filter((p): p is string => !!p);
  if (parts.length > 0) process.stderr.write(`\n${parts.join('\n\n')}\n`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // process.exit, not exitCode: a worker thread that did not end when the pool was shut
  // down must not keep the process alive (every log write is already synchronous).
  process.exit(await main(process.argv.slice(2)));
}
