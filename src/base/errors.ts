import { redact } from './secrets.js';

/** Exit codes of every `cookbook` run (documented in --help). */
export const ExitCode = {
  /** Done. */
  OK: 0,
  /** Failed: rolled back, or stopped cleanly. */
  FAILED: 1,
  /** Bad usage or input; nothing was changed. */
  USAGE: 2,
  /** Rollback failed: manual action needed; the journal says what is left. */
  ROLLBACK_FAILED: 93,
  /** Interrupted by the operator (Ctrl-C). */
  INTERRUPTED: 97,
  /** No such cookbook. */
  NO_SUCH_COOKBOOK: 98,
  /** Unexpected error (a bug). */
  UNEXPECTED: 99,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODES_HELP = `EXIT CODES
  0   done
  1   failed: rolled back, or stopped cleanly
  2   bad usage or input; nothing was changed
  93  rollback failed: manual action needed (cookbook runs / the journal says what is left)
  97  interrupted by the operator
  98  no such cookbook
  99  unexpected error`;

/** Root of Galley's errors: a message that says what happened, and suggestions that say what to do. */
export class GalleyError extends Error {
  readonly suggestions: string[];
  readonly exitCode: ExitCodeValue;

  constructor(
    message: string,
    options: { suggestions?: string[]; exitCode?: ExitCodeValue; cause?: unknown } = {},
  ) {
    super(redact(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.suggestions = options.suggestions ?? [];
    this.exitCode = options.exitCode ?? ExitCode.FAILED;
  }
}

/** The environment file is missing or invalid. */
export class ConfigError extends GalleyError {
  constructor(message: string, suggestions: string[] = []) {
    super(message, { suggestions, exitCode: ExitCode.USAGE });
  }
}

/** Bad arguments or flags given to a cookbook. */
export class UsageError extends GalleyError {
  constructor(message: string, suggestions: string[] = []) {
    super(message, { suggestions, exitCode: ExitCode.USAGE });
  }
}

/** A check or a verification did not hold. */
export class CheckError extends GalleyError {}

/**
 * An undo guard refused: undoing now would lose data (e.g. the cluster that would get the
 * writes back does not hold every write acknowledged since). The action stays applied.
 */
export class GuardError extends GalleyError {
  constructor(message: string, suggestions: string[] = []) {
    super(message, { suggestions, exitCode: ExitCode.ROLLBACK_FAILED });
  }
}

/** Ctrl-C. */
export class InterruptedError extends GalleyError {
  constructor() {
    super('interrupted by the operator', { exitCode: ExitCode.INTERRUPTED });
  }
}

/** A lock is held by another run. */
export class LockHeldError extends GalleyError {
  constructor(
    readonly lock: string,
    readonly holders: string[],
  ) {
    super(`lock ${lock} is held by ${holders.join('; ')}`, {
      suggestions: [
        'wait for the holder to finish, or ask them; --no-locks skips locking (only if you know why)',
      ],
    });
  }
}

/** One line for the operator: the message, then "Try: …" suggestions. */
export function formatError(e: unknown): string {
  if (e instanceof GalleyError) {
    const s = e.suggestions.length ? `\n  Try: ${e.suggestions.join('\n  Try: ')}` : '';
    return `${e.message}${s}`;
  }
  if (e instanceof Error) return redact(e.message);
  return redact(String(e));
}
