import { redact } from './secrets.js';

/** Where the Runner and actions write for the operator. Everything is redacted on the way out. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug(message: string): void;
}

export interface Output {
  write(text: string): void;
}

/** A logger writing lines to a stream (stderr by default), with secrets redacted. */
export function streamLogger(
  out: Output = process.stderr,
  debugEnabled = Boolean(process.env.GALLEY_DEBUG),
): Logger {
  const line = (prefix: string, m: string) => out.write(`${prefix}${redact(m)}\n`);
  return {
    info: (m) => line('', m),
    warn: (m) => line('WARNING: ', m),
    error: (m) => line('ERROR: ', m),
    debug: (m) => {
      if (debugEnabled) line('debug: ', m);
    },
  };
}

/** A logger that keeps lines in memory (tests). */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(redact(m)),
    warn: (m) => lines.push(`WARNING: ${redact(m)}`),
    error: (m) => lines.push(`ERROR: ${redact(m)}`),
    debug: () => undefined,
  };
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 25, error: 30 };

/**
 * A daemon's logger (etcdmirror): `time LEVEL message` lines, redacted, at or above `level`,
 * to a sink (stderr by default). `isDebug` lets a hot path skip building debug lines.
 */
export function levelLogger(
  level: LogLevel,
  write: (line: string) => void = (l) => process.stderr.write(l),
): Logger & { readonly isDebug: boolean } {
  const min = RANK[level];
  const emit = (l: LogLevel, message: string): void => {
    if (RANK[l] >= min) write(`${new Date().toISOString()} ${l.toUpperCase()} ${redact(message)}\n`);
  };
  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
    isDebug: min <= RANK.debug,
  };
}
