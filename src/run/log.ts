// The run's logger: pino NDJSON to stdout (or pino-pretty for humans) and, with
// --log-file, NDJSON to a file as well, so `tail -f` works while training. Writes are
// synchronous: a handful of lines per epoch costs nothing, and no line is lost when the
// process exits (a signal, an error). A write that fails (a full disk, a closed pipe)
// never throws into the code that logs: it is kept as `failure()`, which the training
// loop checks after every step, so the run stops with the path and the OS error.
import { openSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino } from 'pino';
import type { Logger } from 'pino';
import pretty from 'pino-pretty';
import { asWriteError, makeDirs, WriteError } from './outputs.js';

export type { Logger };

export interface RunLogger {
  log: Logger;
  /** The first write to stdout or the log file that failed, or null. */
  failure: () => WriteError | null;
}

export function createLogger(level: string, logFile: string | null, format: 'json' | 'pretty' = 'json'): RunLogger {
  let failure: WriteError | null = null;
  const onError = (path: string) => (err: Error) => { failure ??= asWriteError(err, path); };
  const streams: { level: pino.Level; stream: pino.DestinationStream }[] = [];
  if (format === 'pretty') {
    streams.push({ level: 'trace', stream: pretty({ sync: true, colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }) });
  } else {
    const stdout = pino.destination({ dest: 1, sync: true });
    stdout.on('error', onError('stdout'));
    streams.push({ level: 'trace', stream: stdout });
  }
  if (logFile) {
    // Opened here, not by sonic-boom's `mkdir` option: that is Node's recursive mkdir,
    // which never returns for some paths (src/run/outputs.ts).
    makeDirs(dirname(logFile));
    let fd: number;
    try {
      fd = openSync(logFile, 'a');
    } catch (e) {
      throw asWriteError(e, logFile);
    }
    const file = pino.destination({ dest: fd, sync: true });
    file.on('error', onError(logFile));
    streams.push({ level: 'trace', stream: file });
  }
  return { log: pino({ level, base: null, timestamp: pino.stdTimeFunctions.isoTime }, pino.multistream(streams)), failure: () => failure };
}
