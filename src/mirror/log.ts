import { redact } from '../core/secrets.js';

export type LogLevel = 'debug' | 'info' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, error: 30 };

/** Where log lines go. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  error(message: string): void;
  readonly isDebug: boolean;
}

/** A logger writing `time LEVEL message` lines (redacted) to a sink, stderr by default. */
export function makeLogger(
  level: LogLevel,
  write: (line: string) => void = (l) => process.stderr.write(l),
): Logger {
  const min = RANK[level];
  const emit = (l: LogLevel, message: string): void => {
    if (RANK[l] >= min) write(`${new Date().toISOString()} ${l.toUpperCase()} ${redact(message)}\n`);
  };
  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    error: (m) => emit('error', m),
    isDebug: min <= RANK.debug,
  };
}
