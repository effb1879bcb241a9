import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';

/** How the window sizes itself when no fan-out is given. */
export interface AdaptiveFanout {
  /** Handshakes in flight at the start. */
  start: number;
  min: number;
  max: number;
  /**
   * The handshake time aimed at. By Little's law the window is the handshake rate times the
   * handshake time, so the window is scaled by target / observed time: it grows while
   * handshakes are quick (the servers have CPU to spare) and shrinks when they slow down (the
   * servers are saturated, and a wider window would only bring each host nearer its timeout).
   */
  targetMs: number;
}

/** The default: from 16, between 4 and 256, aiming at a quarter of the connect timeout. */
export function adaptiveFanout(connectTimeoutMs: number): AdaptiveFanout {
  return { start: 16, min: 4, max: 256, targetMs: Math.max(200, connectTimeoutMs / 4) };
}

/**
 * The fan-out window: at most `limit` SSH handshakes in flight at once, and a waiting one
 * starts as soon as one ends (first come, first served, so hosts start in the order they were
 * asked for). This is not a batch: a batch waits for its slowest host, the window never waits
 * for more than one slot. Commands on connections that are already open do not take a slot.
 * A fixed size (`--fanout N`, `ssh.fanout`) never changes; an adaptive one follows the
 * handshake times (see {@link AdaptiveFanout}).
 */
export class FanoutWindow {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private current: number;
  private smoothedMs: number | undefined;
  private readonly now: () => number;
  /** The most handshakes seen in flight at once (observable in tests and benchmarks). */
  peak = 0;

  constructor(size: number | AdaptiveFanout, options: { now?: () => number } = {}) {
    this.adaptive = typeof size === 'number' ? undefined : size;
    const start = typeof size === 'number' ? size : size.start;
    if (!Number.isInteger(start) || start < 1)
      throw new RangeError(`fan-out window must be a whole number from 1 up, not ${start}`);
    this.current = start;
    this.now = options.now ?? (() => performance.now());
  }

  readonly adaptive: AdaptiveFanout | undefined;

  /** Handshakes allowed in flight now. */
  get limit(): number {
    return this.current;
  }

  /** Handshakes in flight now. */
  get inFlight(): number {
    return this.active;
  }

  /** Handshakes waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  private acquire(): Promise<void> {
    if (this.active < this.current) {
      this.active++;
      this.peak = Math.max(this.peak, this.active);
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    this.active--;
    // Start as many waiters as the (possibly new) limit allows.
    while (this.active < this.current && this.waiting.length) {
      this.active++;
      this.peak = Math.max(this.peak, this.active);
      this.waiting.shift()!();
    }
  }

  /** Feeds one handshake time to an adaptive window. */
  private observe(ms: number): void {
    const a = this.adaptive;
    if (!a) return;
    this.smoothedMs = this.smoothedMs === undefined ? ms : 0.8 * this.smoothedMs + 0.2 * ms;
    // Little's law, damped: at most doubling, at least halving, per handshake.
    const factor = Math.min(2, Math.max(0.5, a.targetMs / Math.max(1, this.smoothedMs)));
    const next = Math.round(Math.min(a.max, Math.max(a.min, this.current * factor ** 0.25)));
    if (next !== this.current) this.current = next;
  }

  /**
   * Runs `fn` once a slot is free, and frees the slot when it settles. For an adaptive window,
   * its time counts when it succeeded, or when it failed after the target (a timeout): a quick
   * refusal says nothing about how loaded the servers are.
   */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    const started = this.now();
    try {
      const value = await fn();
      this.observe(this.now() - started);
      return value;
    } catch (e) {
      const ms = this.now() - started;
      if (this.adaptive && ms >= this.adaptive.targetMs) this.observe(ms);
      throw e;
    } finally {
      this.release();
    }
  }
}

/** A handshake attempt that failed; `retriable` when the server refused or reset it (worth another try). */
export class HandshakeFailure extends Error {
  constructor(
    message: string,
    readonly retriable: boolean,
  ) {
    super(message);
  }
}

export interface RetryPolicy {
  /** Further attempts after a refused or reset handshake (0: none). */
  retries: number;
  /** Pause before the first retry; doubles on each later one, with ±25% jitter. */
  backoffMs: number;
  /** Injected so that tests need not wait. */
  sleep?: (ms: number) => Promise<void>;
  /** Injected for deterministic tests (0 to 1). */
  random?: () => number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 3, backoffMs: 200 };

/** The pause before retry number `retry` (0 = first retry). */
export function backoffDelayMs(policy: RetryPolicy, retry: number): number {
  const jitter = 0.75 + 0.5 * (policy.random ?? Math.random)();
  return Math.round(policy.backoffMs * 2 ** retry * jitter);
}

/**
 * Connects through the window: each attempt takes a slot, a refused or reset attempt gives it
 * back, waits (exponential backoff) and queues again, up to `policy.retries` more times. A
 * failure that is not retriable (a timeout, a host key mismatch, authentication refused) is
 * thrown at once. The last failure's message says how many attempts were made.
 */
export async function connectThroughWindow<T>(
  window: FanoutWindow,
  attempt: (attemptNumber: number) => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
): Promise<T> {
  const sleep = policy.sleep ?? ((ms: number) => delay(ms));
  const started = Date.now();
  for (let n = 0; ; n++) {
    try {
      return await window.run(() => attempt(n));
    } catch (e) {
      const retriable = e instanceof HandshakeFailure && e.retriable;
      if (!retriable) throw e;
      if (n >= policy.retries) {
        const tries = n + 1;
        throw new HandshakeFailure(
          tries > 1
            ? `${e.message} (${tries} attempts over ${((Date.now() - started) / 1000).toFixed(1)}s)`
            : e.message,
          false,
        );
      }
      await sleep(backoffDelayMs(policy, n));
    }
  }
}
