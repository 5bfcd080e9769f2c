// The run's logger: pino NDJSON to stdout and, with --log-file, to a file as well, so
// `tail -f` works while training. Writes are synchronous: a handful of lines per
// epoch costs nothing, and no line is lost when the process exits.
import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, logFile: string | null): Logger {
  const streams: { level: pino.Level; stream: pino.DestinationStream }[] = [
    { level: 'trace', stream: pino.destination({ dest: 1, sync: true }) },
  ];
  if (logFile) streams.push({ level: 'trace', stream: pino.destination({ dest: logFile, sync: true, mkdir: true, append: true }) });
  return pino({ level, base: null, timestamp: pino.stdTimeFunctions.isoTime }, pino.multistream(streams));
}
