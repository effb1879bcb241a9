/**
 * The one way Galley waits or retries: probe until a condition holds or a deadline passes,
 * retrying only the errors the caller names as transient, and ending at once when the
 * abort signal fires (Ctrl-C). Every wait, verify, check and retry loop goes through here.
 */

/** Thrown when a wait is abandoned because its signal fired. */
export class WaitAborted extends Error {
  constructor(what: string) {
    super(`${what}: stopped (interrupted)`);
    this.name = 'WaitAborted';
  }
}

/** Thrown when the deadline passes; `last` is the last observation or error. */
export class WaitTimeout extends Error {
  constructor(
    message: string,
    readonly last: unknown,
  ) {
    super(message);
    this.name = 'WaitTimeout';
  }
}

export interface WaitOptions<T> {
  /** What is awaited, for messages ("codfw holds every key of eqiad"). */
  what: string;
  /** One attempt: returns an observation, or throws. */
  probe: () => Promise<T>;
  /** Whether the observation is what we wait for (default: any value that came back). */
  until?: (value: T) => boolean;
  /** Total time allowed, in milliseconds, counted from the first attempt. */
  timeoutMs: number;
  /** First pause between attempts (default 20 ms); doubled up to `maxIntervalMs`. */
  intervalMs?: number;
  /** Longest pause between attempts (default 500 ms; equal to intervalMs gives a fixed pace). */
  maxIntervalMs?: number;
  /**
   * Which errors are worth another attempt (transient ones: a member restarting, a reload,
   * a connection reset). Anything else is thrown at once: a config or programming error is
   * never retried. Default: none.
   */
  retryOn?: (error: unknown) => boolean;
  /** Ends the wait at once (WaitAborted) when it fires. */
  signal?: AbortSignal;
  /** Describes an observation that does not hold yet, for the timeout message. */
  describe?: (value: T) => string;
  /** Called after each attempt that did not end the wait (progress lines, spinners). */
  onAttempt?: (info: { attempt: number; elapsedMs: number; value?: T; error?: unknown }) => void;
  /** Builds the error thrown at the deadline (default WaitTimeout). */
  timeoutError?: (message: string, last: unknown) => Error;
  /** For tests. */
  now?: () => number;
  /** For tests: how a pause is taken (default {@link sleep}, which ends early on the signal). */
  sleep?: (ms: number, signal: AbortSignal | undefined, what: string) => Promise<void>;
}

/** One wait in progress, as a reporter sees it. */
export interface WaitHandle {
  /** The awaited thing's latest state (an observation that does not hold yet, or the last error). */
  update(state: string): void;
  /** The wait ended: it held, it timed out or failed, or it was interrupted. */
  end(outcome: 'done' | 'failed' | 'aborted'): void;
}

/**
 * Shows long waits to the operator (src/core/progress.ts: a spinner on a terminal, one line
 * per state change otherwise). Installed by the Runner for the length of a run; every wait of
 * {@link waitUntil} and {@link pause} reports to it, so no cookbook or action has to.
 */
export interface WaitReporter {
  /** `known`: the wait lasts its whole timeout (a TTL waited out), so it is shown at once. */
  begin(w: { what: string; timeoutMs: number; startedAt: number; known?: boolean }): WaitHandle;
}

let reporter: WaitReporter | undefined;

/** Installs the reporter of long waits; returns a function that puts the previous one back. */
export function setWaitReporter(r: WaitReporter | undefined): () => void {
  const previous = reporter;
  reporter = r;
  return () => {
    reporter = previous;
  };
}

/**
 * Waits `ms` for something that only time brings (a TTL to pass), reported like any other
 * wait; ends early (WaitAborted) when `signal` fires.
 */
export async function pause(ms: number, what: string, signal?: AbortSignal): Promise<void> {
  const handle =
    ms > 0 ? reporter?.begin({ what, timeoutMs: ms, startedAt: Date.now(), known: true }) : undefined;
  try {
    await sleep(ms, signal, what);
    handle?.end('done');
  } catch (e) {
    handle?.end('aborted');
    throw e;
  }
}

/** Sleeps `ms`, ending early (WaitAborted) when `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal, what = 'wait'): Promise<void> {
  if (signal?.aborted) return Promise.reject(new WaitAborted(what));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new WaitAborted(what));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Probes until `until(value)` holds or the deadline passes. Returns the value that held.
 * Errors for which `retryOn` is true are retried until the deadline (the last one is then
 * thrown, wrapped in the timeout error's message); any other error is thrown at once.
 */
export async function waitUntil<T>(o: WaitOptions<T>): Promise<T> {
  const now = o.now ?? Date.now;
  const started = now();
  const deadline = started + o.timeoutMs;
  let delay = o.intervalMs ?? 20;
  const maxDelay = Math.max(delay, o.maxIntervalMs ?? 500);
  const until = o.until ?? (() => true);
  // Reported from the first attempt that does not end it: a wait that holds at once shows nothing.
  let handle: WaitHandle | undefined;
  const finish = (outcome: 'done' | 'failed' | 'aborted') => {
    handle?.end(outcome);
    handle = undefined;
  };
  try {
    for (let attempt = 1; ; attempt++) {
      if (o.signal?.aborted) throw new WaitAborted(o.what);
      let value: T | undefined;
      let error: unknown;
      let failed = false;
      try {
        value = await o.probe();
        if (until(value)) {
          finish('done');
          return value;
        }
      } catch (e) {
        if (o.signal?.aborted) throw new WaitAborted(o.what);
        if (!(o.retryOn?.(e) ?? false)) throw e;
        failed = true;
        error = e;
      }
      handle ??= reporter?.begin({ what: o.what, timeoutMs: o.timeoutMs, startedAt: started });
      handle?.update(
        failed
          ? `not yet: ${error instanceof Error ? error.message : String(error)}`
          : `not yet: ${o.describe ? o.describe(value as T) : safeJson(value)}`,
      );
      o.onAttempt?.({ attempt, elapsedMs: now() - started, value, error });
      const left = deadline - now();
      if (left <= 0) {
        const seconds = o.timeoutMs >= 1000 ? `${Math.round(o.timeoutMs / 1000)}s` : `${o.timeoutMs}ms`;
        const last = failed
          ? `last error: ${error instanceof Error ? error.message : String(error)}`
          : `now: ${o.describe ? o.describe(value as T) : safeJson(value)}`;
        const message = `${o.what}: still not as expected after ${seconds} (${last})`;
        throw o.timeoutError
          ? o.timeoutError(message, failed ? error : value)
          : new WaitTimeout(message, failed ? error : value);
      }
      await (o.sleep ?? sleep)(Math.min(delay, left), o.signal, o.what);
      delay = Math.min(delay * 2, maxDelay);
    }
  } catch (e) {
    finish(e instanceof WaitAborted ? 'aborted' : 'failed');
    throw e;
  }
}

function safeJson(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 300 ? `${s.slice(0, 300)}…` : s;
  } catch {
    return String(v);
  }
}
