import { WaitAborted, WaitTimeout } from '../util/wait.js';
import { ConfigError, GalleyError, GuardError, InterruptedError, UsageError } from './errors.js';
import { NoAnswerError } from './prompt.js';

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * Whether an error is worth another attempt of a check or a verification: a condition that
 * does not hold yet, or a transport that failed for a while (a member restarting, a proxy
 * reloading, a connection reset). Never a config or usage error, a refused guard, a missing
 * answer, an interruption, or a programming error (TypeError and the like).
 */
export function isTransient(e: unknown): boolean {
  if (e instanceof WaitAborted || e instanceof InterruptedError) return false;
  if (
    e instanceof ConfigError ||
    e instanceof UsageError ||
    e instanceof GuardError ||
    e instanceof NoAnswerError
  )
    return false;
  if (e instanceof GalleyError || e instanceof WaitTimeout) return true;
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && TRANSIENT_CODES.has(code);
}
