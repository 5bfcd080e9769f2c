// The run's logger: pino NDJSON to stdout (or pino-pretty for humans) and, with
// --log-file, NDJSON to a file as well, so `tail -f` works while training. Writes are
// synchronous: a handful of lines per epoch costs nothing, and no line is lost when the
// process exits (a signal, an error).
import { pino } from 'pino';
import type { Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export function createLogger(level: string, logFile: string | null, format: 'json' | 'pretty' = 'json'): Logger {
  const stdout = format === 'pretty'
    ? pretty({ sync: true, colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
    : pino.destination({ dest: 1, sync: true });
  const streams: { level: pino.Level; stream: pino.DestinationStream }[] = [{ level: 'trace', stream: stdout }];
  if (logFile) streams.push({ level: 'trace', stream: pino.destination({ dest: logFile, sync: true, mkdir: true, append: true }) });
  return pino({ level, base: null, timestamp: pino.stdTimeFunctions.isoTime }, pino.multistream(streams));
}
