/** Retrying an operation that etcd refuses for a while (a member change right after a join). */

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
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `attempt` until it succeeds, a non-retryable error happens, or the deadline passes.
 * Returns the result and how many attempts it took.
 */
export async function retryUntilDeadline<T>(
  attempt: () => Promise<T>,
  options: RetryOptions,
): Promise<{ value: T; attempts: number }> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const start = now();
  let delay = options.initialDelayMs ?? 200;
  const maxDelay = options.maxDelayMs ?? 1000;
  for (let attempts = 1; ; attempts++) {
    try {
      return { value: await attempt(), attempts };
    } catch (e) {
      const left = start + options.deadlineMs - now();
      if (!options.isRetryable(e) || left <= 0) throw e;
      options.onRetry?.(attempts, e);
      await sleep(Math.min(delay, left));
      delay = Math.min(delay * 2, maxDelay);
    }
  }
}
