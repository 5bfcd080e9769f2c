// `tfjs-parallel-trainer train` (npm run train): flags -> resolved config -> checks ->
// the training run, with signals, exit codes and the printed report. Exit 0 done, 2 bad
// input (one line on stderr, nothing written), 1 failure, 130/143 signal.
import { pathToFileURL } from 'node:url';
import { CheckpointError, listCheckpoints, readLatestCheckpoint } from '../run/checkpoint.js';
import type { LoadedCheckpoint } from '../run/checkpoint.js';
import { ConfigError, HelpRequested, HELP, resolveConfig } from '../run/config.js';
import type { Config } from '../run/config.js';
import { builtinMnistDir, DataError, loadDataset } from '../data/idx.js';
import type { Dataset } from '../data/idx.js';
import { hold } from '../engine/faults.js';
import { createLogger } from '../run/log.js';
import type { Logger } from '../run/log.js';
import { OutputError, probeDir, probeFile, WriteError } from '../run/outputs.js';
import { formatReport } from '../report/eval-report.js';
import { checkAgainstData, checkBackend, checkResume } from '../run/checks.js';
import { runTraining } from '../run/train.js';

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
  let stop: NodeJS.Signals | null = null;
  let log: Logger | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop) process.exit(SIGNAL_EXIT[signal]);
    stop = signal;
    setTimeout(() => {
      log?.warn({ event: 'run_stopped', signal, forced: true, graceMs: SIGNAL_GRACE_MS }, 'run_stopped');
      process.exit(SIGNAL_EXIT[signal]);
    }, SIGNAL_GRACE_MS).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await runCli(argv, () => stop, (l) => { log = l; });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function runCli(argv: string[], stopRequested: () => NodeJS.Signals | null, setLog: (log: Logger) => void): Promise<number> {
  let config: Config;
  let data: Dataset;
  let resumeFrom: LoadedCheckpoint | undefined;
  const invalid: { checkpoint: string; problem: string }[] = [];
  try {
    config = resolveConfig(argv);
    // Every output is created, written and fsynced once, then removed again, before
    // anything is loaded: a path that cannot be written costs no time and leaves nothing.
    if (config.logFile) probeFile('--log-file', config.logFile, 'append');
    if (config.checkpointDir) probeDir('--checkpoint-dir', config.checkpointDir);
    if (config.resume) {
      // The checkpoint's own config is the base; a --config file and flags still win.
      resumeFrom = readLatestCheckpoint(config.resume, (checkpoint, problem) => {
        invalid.push({ checkpoint, problem });
        process.stderr.write(`warning: skipping invalid checkpoint: ${problem}\n`);
      });
      // Where the earlier run read from and wrote to is not part of the experiment: a
      // checkpoint copied elsewhere goes on writing next to itself, not to the old path.
      const { checkpointDir: _dir, resume: _resume, logFile: _log, ...experiment } = resumeFrom.config;
      config = resolveConfig(argv, { name: `${config.resume}/${resumeFrom.checkpoint}`, config: experiment as Record<string, unknown> });
      if (!config.checkpointDir) probeDir('--resume', config.resume!);
    } else if (config.checkpointDir && listCheckpoints(config.checkpointDir).length > 0) {
      throw new ConfigError(`--checkpoint-dir ${config.checkpointDir}: already holds checkpoints; continue with --resume ${config.checkpointDir} or choose an empty directory`);
    }
    hold('loading');
    data = loadDataset(config.data ?? builtinMnistDir(), config.model.numClasses);
    checkAgainstData(config, data);
    checkBackend(config);
    if (resumeFrom) checkResume(config, data, resumeFrom);
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(HELP);
      return 0;
    }
    if (e instanceof ConfigError || e instanceof DataError || e instanceof CheckpointError || e instanceof OutputError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  // Loading is synchronous: a signal that came meanwhile is handled now, before any
  // thread is started.
  await seeSignals();
  const early = stopRequested();
  if (early) return SIGNAL_EXIT[early];
  let logger;
  try {
    logger = createLogger(config.logLevel, config.logFile, config.logFormat);
  } catch (e) {
    if (!(e instanceof WriteError)) throw e;
    process.stderr.write(`error: --log-file ${e.message}\n`);
    return 1;
  }
  const { log } = logger;
  setLog(log);
  for (const i of invalid) log.warn({ event: 'checkpoint_invalid', ...i }, 'checkpoint_invalid');
  try {
    const summary = await runTraining(config, log, data, { resumeFrom, stopRequested, writeFailure: logger.failure, progressLine: true });
    const failure = logger.failure();
    if (failure) throw failure;
    // A signal during the evaluation or the pool's shutdown still ends the run as a signal.
    const signal = summary.stoppedBy ?? stopRequested();
    if (signal) {
      if (!summary.stoppedBy) log.warn({ event: 'run_stopped', signal, step: summary.steps }, 'run_stopped');
      return SIGNAL_EXIT[signal];
    }
    const r = summary.eval!;
    process.stderr.write(`\n${formatReport('training', r.train)}\n\n${formatReport('test', r.test)}\n`);
    return 0;
  } catch (e) {
    hold('failing');
    await seeSignals(); // a signal during the failure still ends the run as a signal
    const code = (e as { code?: string }).code;
    const path = e instanceof WriteError ? { path: e.path, errno: e.errno } : {};
    log.error({ event: 'run_failed', code, ...path, err: e }, 'run_failed');
    process.stderr.write(`error: ${(e as Error).message}\n`);
    const signal = stopRequested();
    return signal ? SIGNAL_EXIT[signal] : 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // process.exit, not exitCode: a worker thread that did not end when the pool was shut
  // down must not keep the process alive (every log write is already synchronous).
  process.exit(await main(process.argv.slice(2)));
}
