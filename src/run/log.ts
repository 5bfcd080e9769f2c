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
import type { LogFormat } from '../settings/settings.js';
import { asWriteError, makeDirs } from '../files/outputs.js';

export type { Logger };

export interface RunLogger {
  log: Logger;
  /** The first write to stdout or the log file that failed, or null. */
  failure: () => Error | null;
}

/** The CLI's logger: NDJSON (or pino-pretty) on stdout, and the log file when given. */
export function createLogger(level: string, logFile: string | null, format: LogFormat = 'json'): RunLogger {
  const out = new Streams();
  if (format === 'pretty') {
    // Our own stdout destination under pino-pretty, so its write errors are kept too.
    const stdout = pino.destination({ dest: 1, sync: true });
    out.watch(stdout, 'stdout');
    out.add(pretty({ destination: stdout, sync: true, colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  } else {
    out.add(pino.destination({ dest: 1, sync: true }), 'stdout');
  }
  if (logFile) out.addFile(logFile);
  return out.logger(level);
}

/**
 * train()'s logger: silent, or every event handed to the caller's pino logger (at the
 * same level, as an object), and the log file when given; nothing on stdout or stderr.
 */
export function wrapLogger(user: Logger | null, level: string, logFile: string | null): RunLogger {
  // The caller's logger as it is (its own level and destination) when nothing else is written.
  if (user && !logFile) return { log: user, failure: () => null };
  const out = new Streams();
  if (user) {
    // Both: our logger writes the file, and hands every event on to the caller's.
    out.add({
      write(line: string) {
        const event = JSON.parse(line) as { level: number; msg?: string };
        const method = pino.levels.labels[event.level] as pino.Level;
        const { level: _l, time: _t, msg, ...fields } = event as Record<string, unknown>;
        user[method](fields, msg as string);
      },
    });
  }
  if (logFile) out.addFile(logFile);
  return out.logger(user || logFile ? level : 'silent');
}

/** pino's sync file destination (a sonic-boom): it emits 'error' on a failed write. */
type Destination = ReturnType<typeof pino.destination>;

class Streams {
  private failure: Error | null = null;
  private readonly streams: { level: pino.Level; stream: pino.DestinationStream }[] = [];

  /** `errorPath`: the stream is a sonic-boom whose write errors are kept as the failure, named so. */
  add(stream: pino.DestinationStream | Destination, errorPath?: string): void {
    if (errorPath) this.watch(stream as Destination, errorPath);
    this.streams.push({ level: 'trace', stream });
  }

  /** Keeps the first write error of `dest` as the failure, named `path`. */
  watch(dest: Destination, path: string): void {
    dest.on('error', (err: Error) => { this.failure ??= asWriteError(err, path); });
  }

  /**
   * Opened here, not by sonic-boom's `mkdir` option: that is Node's recursive mkdir,
   * which never returns for some paths (src/files/outputs.ts).
   */
  addFile(path: string): void {
    makeDirs(dirname(path));
    let fd: number;
    try {
      fd = openSync(path, 'a');
    } catch (e) {
      throw asWriteError(e, path);
    }
    this.add(pino.destination({ dest: fd, sync: true }), path);
  }

  logger(level: string): RunLogger {
    return { log: pino({ level, base: null, timestamp: pino.stdTimeFunctions.isoTime }, pino.multistream(this.streams)), failure: () => this.failure };
  }
}
