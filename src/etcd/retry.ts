/**
 * Retrying what etcd refuses for a while: a member change right after a join, or any request
 * while a member restarts, a leader is elected or the proxy reloads. Both go through the one
 * wait helper (src/util/wait.ts): only named transient errors are retried, and an abort signal
 * ends the wait at once.
 */
import { waitUntil } from '../util/wait.js';
import { EtcdAllEndpointsFailedError, EtcdError, EtcdHttpError, EtcdUnreachableError } from './errors.js';

export interface RetryOptions {
  /** Give up after this long (the last error is thrown). */
  deadlineMs: number;
  /** First pause between attempts; doubled up to maxDelayMs. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Whether an error is worth another attempt. */
  isRetryable: (e: unknown) => boolean;
  /** Called before each pause, with the attempt that failed (1-based) and its error. */
  onRetry?: (attempt: number, error: unknown) => void;
  /** Ends the wait at once (WaitAborted). */
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Runs `attempt` until it succeeds, a non-retryable error happens, or the deadline passes (the
 * last error is then thrown as it is). Returns the result and how many attempts it took.
 */
export async function retryUntilDeadline<T>(
  attempt: () => Promise<T>,
  options: RetryOptions,
): Promise<{ value: T; attempts: number }> {
  const now = options.now ?? Date.now;
  const started = now();
  let attempts = 0;
  const sleep = options.sleep;
  const value = await waitUntil({
    what: 'etcd request',
    probe: () => {
      attempts++;
      return attempt();
    },
    timeoutMs: options.deadlineMs,
    intervalMs: options.initialDelayMs ?? 200,
    maxIntervalMs: options.maxDelayMs ?? 1000,
    retryOn: options.isRetryable,
    signal: options.signal,
    now,
    ...(sleep ? { sleep: (ms: number) => sleep(ms) } : {}),
    onAttempt: ({ attempt: n, error }) => {
      if (now() - started < options.deadlineMs) options.onRetry?.(n, error);
    },
    timeoutError: (message, last) => (last instanceof Error ? last : new Error(message)),
  });
  return { value, attempts };
}

/**
 * Whether an etcd failure is transient: the member (or its proxy) could not be reached or timed
 * out, or it answered a server error (5xx: a raft error, a leader election, a proxy whose etcd
 * is restarting). etcd's refusals (4xx: a failed compare, a missing key, bad credentials) and
 * anything that is not an etcd failure are not.
 */
export function isTransientEtcdError(e: unknown): boolean {
  if (e instanceof EtcdUnreachableError || e instanceof EtcdAllEndpointsFailedError) return true;
  if (e instanceof EtcdError || e instanceof EtcdHttpError) return e.httpStatus >= 500;
  return false;
}

/** How long etcdmirror retries a request while its cluster is unavailable. */
export const TRANSIENT_RETRY_MS = 30_000;

/**
 * Runs one etcd request, retrying it with backoff (50 ms doubling to 1 s) while it fails with
 * a transient error ({@link isTransientEtcdError}), for up to `retryForMs`; then the last
 * failure is thrown as it is. The first attempt is made directly, so the common case costs
 * nothing more than the request (etcdmirror sends thousands a second through here).
 */
export async function retryTransient<T>(
  what: string,
  attempt: () => Promise<T>,
  options: { retryForMs?: number; signal?: AbortSignal } = {},
): Promise<T> {
  const retryForMs = options.retryForMs ?? TRANSIENT_RETRY_MS;
  try {
    return await attempt();
  } catch (e) {
    if (!isTransientEtcdError(e) || retryForMs <= 0 || options.signal?.aborted) throw e;
  }
  return waitUntil({
    what,
    probe: attempt,
    timeoutMs: retryForMs,
    intervalMs: 50,
    maxIntervalMs: 1000,
    retryOn: isTransientEtcdError,
    signal: options.signal,
    timeoutError: (message, last) => (last instanceof Error ? last : new Error(message)),
  });
}
