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
