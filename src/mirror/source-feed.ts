import type http from 'node:http';
import { ClusterError, HistoryGapError } from './errors.js';
import { EtcdCode, type EtcdEvent, type EtcdHttp, etcdError, keyPath } from './etcd-http.js';
import { isHidden } from './keys.js';
import type { Logger } from './log.js';
import { eventIndex } from './write-plan.js';

/** What the feed reports to the mirror, always in index order. */
export interface FeedHandlers {
  /** The next source event (indexes strictly increase). */
  onEvent(ev: EtcdEvent): void;
  /** No event exists between the last one delivered and `upTo`. */
  onQuiet(upTo: number): void;
  /** The source's current index, as last seen. */
  onSourceIndex(index: number): void;
  /** A (re)connection will now deliver the history up to `upTo`, then live events. */
  onHistoryStart(upTo: number): void;
  /** History up to `upTo` has been delivered after a (re)connection. */
  onCaughtUp(upTo: number): void;
  /** The feed cannot go on. */
  onFatal(error: unknown): void;
}

/** Tunables (defaults suit production; tests shorten them). */
export interface FeedOptions {
  /** Long-polls in flight while catching up from history. */
  catchUpConcurrency: number;
  /** How often the stream is checked for a silent drop. */
  probeIntervalMs: number;
  /** How long an event seen by the probe may be missing from the stream before reconnecting. */
  stallGraceMs: number;
  /** How long the probe's long-poll waits before concluding that nothing newer exists. */
  quietWaitMs: number;
  /** The same while catching up (history answers at once; only trailing index gaps wait). */
  historyQuietWaitMs: number;
  /** How long to keep retrying an unreachable source before giving up. */
  retryForMs: number;
}

export const DEFAULT_FEED_OPTIONS: FeedOptions = {
  catchUpConcurrency: 24,
  probeIntervalMs: 1000,
  stallGraceMs: 2000,
  quietWaitMs: 1000,
  historyQuietWaitMs: 2000,
  retryForMs: 30_000,
};

/** Parses `[oldest/requested]` from an errorCode 401 cause. */
function gapError(requested: number, cause: string | undefined): HistoryGapError {
  const m = /\[(\d+)\/(\d+)\]/.exec(cause ?? '');
  return new HistoryGapError(requested, m ? Number(m[1]) : undefined);
}

type PollResult =
  | { kind: 'event'; event: EtcdEvent; sourceIndex: number | undefined }
  | { kind: 'quiet'; sourceIndex: number | undefined };

/**
 * The source's events, in order, without loss: one streamed recursive watch (`stream=true`,
 * opened without waitIndex because etcd sends a single event and then nothing on a stream that
 * starts in the past), with the history before it fetched by concurrent long-polls, and a
 * periodic probe that reconnects when etcd silently dropped the stream.
 */
export class SourceFeed {
  readonly #src: EtcdHttp;
  readonly #prefix: string;
  readonly #handlers: FeedHandlers;
  readonly #log: Logger;
  readonly #options: FeedOptions;
  #lastDelivered = 0;
  #stream: http.IncomingMessage | undefined;
  #streamAbort: AbortController | undefined;
  #connection = 0;
  #isStopped = false;
  #probeTimer: NodeJS.Timeout | undefined;
  #isProbing = false;
  /** True while the history before the stream is being delivered (the stream is buffered meanwhile). */
  #isCatchingUp = false;
  #failingSince: number | undefined;

  constructor(
    src: EtcdHttp,
    prefix: string,
    handlers: FeedHandlers,
    log: Logger,
    options: Partial<FeedOptions> = {},
  ) {
    this.#src = src;
    this.#prefix = prefix;
    this.#handlers = handlers;
    this.#log = log;
    this.#options = { ...DEFAULT_FEED_OPTIONS, ...options };
  }

  /** Starts delivering the events after `fromIndex`. */
  start(fromIndex: number): void {
    this.#lastDelivered = fromIndex;
    void this.#connect();
    this.#probeTimer = setInterval(() => void this.#probe(), this.#options.probeIntervalMs);
    this.#probeTimer.unref();
  }

  /** Stops and closes the stream. */
  stop(): void {
    this.#isStopped = true;
    if (this.#probeTimer) clearInterval(this.#probeTimer);
    this.#streamAbort?.abort();
  }

  #fatal(e: unknown): void {
    if (this.#isStopped) return;
    this.stop();
    this.#handlers.onFatal(e);
  }

  #deliver(ev: EtcdEvent): void {
    const i = eventIndex(ev);
    if (i <= this.#lastDelivered) return;
    this.#lastDelivered = i;
    this.#handlers.onEvent(ev);
  }

  /** Opens the stream, catches up from history while buffering it, then goes live. */
  async #connect(): Promise<void> {
    const connection = ++this.#connection;
    this.#streamAbort?.abort();
    const abort = new AbortController();
    this.#streamAbort = abort;
    let buffered: EtcdEvent[] | undefined = [];
    try {
      const res = await this.#src.open(
        'GET',
        `${keyPath(this.#prefix)}?wait=true&recursive=true&stream=true`,
        undefined,
        abort.signal,
      );
      if (res.statusCode !== 200) {
        res.resume();
        throw new ClusterError(`${this.#src.display}: the watch was refused with HTTP ${res.statusCode}`);
      }
      const head = Number(res.headers['x-etcd-index']);
      this.#stream = res;
      let partial = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (connection !== this.#connection) return;
        partial += chunk;
        let start = 0;
        let nl = partial.indexOf('\n');
        while (nl >= 0) {
          const line = partial.slice(start, nl).trim();
          start = nl + 1;
          nl = partial.indexOf('\n', start);
          if (!line) continue;
          let ev: EtcdEvent;
          try {
            ev = JSON.parse(line) as EtcdEvent;
          } catch {
            this.#log.error(`unreadable line in the watch stream, reconnecting: ${line.slice(0, 200)}`);
            void this.#reconnect(connection);
            return;
          }
          if (buffered) buffered.push(ev);
          else this.#deliver(ev);
        }
        partial = partial.slice(start);
      });
      const onClosed = (): void => {
        if (connection === this.#connection && !this.#isStopped) {
          this.#log.info(
            `the watch stream from ${this.#src.display} closed at index ${this.#lastDelivered}, reconnecting`,
          );
          void this.#reconnect(connection);
        }
      };
      res.on('end', onClosed);
      res.on('error', onClosed);
      res.on('aborted', onClosed);
      this.#handlers.onSourceIndex(head);
      this.#log.debug(`watch stream open at index ${head}; catching up from ${this.#lastDelivered + 1}`);
      this.#handlers.onHistoryStart(head);
      this.#isCatchingUp = true;
      const catchUpFrom = this.#lastDelivered + 1;
      const catchUpStarted = Date.now();
      await this.#fetchHistory(this.#lastDelivered + 1, head, (ev) => {
        if (connection === this.#connection) this.#deliver(ev);
      });
      if (connection !== this.#connection) return;
      if (head > this.#lastDelivered) {
        this.#lastDelivered = head;
        this.#handlers.onQuiet(head);
      }
      this.#log.debug(`history ${catchUpFrom}..${head} delivered in ${Date.now() - catchUpStarted} ms`);
      this.#handlers.onCaughtUp(head);
      const pending = buffered;
      buffered = undefined;
      this.#isCatchingUp = false;
      for (const ev of pending) this.#deliver(ev);
      this.#failingSince = undefined;
    } catch (e) {
      if (connection === this.#connection) this.#isCatchingUp = false;
      if (this.#isStopped || connection !== this.#connection) return;
      if (e instanceof HistoryGapError) return this.#fatal(e);
      const now = Date.now();
      this.#failingSince ??= now;
      if (now - this.#failingSince > this.#options.retryForMs) return this.#fatal(e);
      this.#log.error(`source ${this.#src.display} unavailable (${(e as Error).message}); retrying`);
      await new Promise((r) => setTimeout(r, 500));
      if (connection === this.#connection && !this.#isStopped) void this.#connect();
    }
  }

  async #reconnect(connection: number): Promise<void> {
    if (connection !== this.#connection || this.#isStopped) return;
    await new Promise((r) => setTimeout(r, 50));
    if (connection === this.#connection && !this.#isStopped) await this.#connect();
  }

  /**
   * One long-poll at `waitIndex`: the first event at or after it, or `quiet` when none came
   * within quietWaitMs (nothing newer exists yet).
   */
  async #poll(waitIndex: number, quietWaitMs: number): Promise<PollResult> {
    const abort = new AbortController();
    const path = `${keyPath(this.#prefix)}?wait=true&recursive=true&waitIndex=${waitIndex}`;
    let res: http.IncomingMessage;
    try {
      res = await this.#src.open('GET', path, undefined, abort.signal);
    } catch (e) {
      throw e instanceof Error ? e : new ClusterError(String(e));
    }
    const sourceIndex =
      res.headers['x-etcd-index'] === undefined ? undefined : Number(res.headers['x-etcd-index']);
    return new Promise<PollResult>((resolve, reject) => {
      const chunks: Buffer[] = [];
      // a busy event loop runs timers before reading sockets: look once more after the poll phase
      // before concluding that nothing came, so that a late-read answer is never taken for silence
      const timer = setTimeout(() => {
        setImmediate(() => {
          if (chunks.length || res.complete) return;
          abort.abort();
          resolve({ kind: 'quiet', sourceIndex });
        });
      }, quietWaitMs);
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => undefined);
      res.on('end', () => {
        clearTimeout(timer);
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return reject(
            new ClusterError(`${this.#src.display}: unreadable long-poll answer (HTTP ${res.statusCode})`),
          );
        }
        const err = etcdError({ status: res.statusCode ?? 0, etcdIndex: sourceIndex, body });
        if (err?.errorCode === EtcdCode.EVENT_INDEX_CLEARED) return reject(gapError(waitIndex, err.cause));
        if (err || res.statusCode !== 200) {
          return reject(
            new ClusterError(
              `${this.#src.display}: long-poll at ${waitIndex} failed: ${err?.message ?? `HTTP ${res.statusCode}`}`,
            ),
          );
        }
        resolve({ kind: 'event', event: body as EtcdEvent, sourceIndex });
      });
    });
  }

  /**
   * Delivers every event with index in [from, to], in order, fetched by concurrent long-polls;
   * each one is handed over as soon as everything before it is known, so that applying starts
   * while the rest is still being fetched.
   */
  async #fetchHistory(from: number, to: number, deliver: (ev: EtcdEvent) => void): Promise<void> {
    if (from > to) return;
    const events = new Map<number, EtcdEvent>();
    /** Indexes whose content is known (an event, or none). */
    const known = new Set<number>();
    let next = from;
    let handedOver = from;
    const settle = (waitIndex: number, found: number): void => {
      for (let i = waitIndex; i < Math.min(found, to + 1); i++) known.add(i);
      if (found <= to) known.add(found);
      while (handedOver <= to && known.has(handedOver)) {
        const ev = events.get(handedOver);
        if (ev) deliver(ev);
        events.delete(handedOver);
        known.delete(handedOver);
        handedOver++;
      }
    };
    const worker = async (): Promise<void> => {
      for (;;) {
        while (next <= to && (next < handedOver || known.has(next))) next++;
        if (next > to) return;
        const waitIndex = next++;
        const r = await this.#poll(waitIndex, this.#options.historyQuietWaitMs);
        if (r.kind === 'quiet') {
          settle(waitIndex, to + 1);
          return;
        }
        const i = eventIndex(r.event);
        if (i <= to && i >= handedOver) events.set(i, r.event);
        settle(waitIndex, i);
      }
    };
    await Promise.all(Array.from({ length: this.#options.catchUpConcurrency }, worker));
  }

  /** Checks that the stream still delivers: what history has next must arrive on the stream soon. */
  async #probe(): Promise<void> {
    if (this.#isProbing || this.#isStopped || this.#isCatchingUp) return;
    this.#isProbing = true;
    const connection = this.#connection;
    try {
      const waitIndex = this.#lastDelivered + 1;
      const r = await this.#poll(waitIndex, this.#options.quietWaitMs);
      if (r.sourceIndex !== undefined) this.#handlers.onSourceIndex(r.sourceIndex);
      if (connection !== this.#connection || this.#isStopped) return;
      if (r.kind === 'quiet') {
        if (
          r.sourceIndex !== undefined &&
          r.sourceIndex > this.#lastDelivered &&
          this.#lastDelivered === waitIndex - 1
        ) {
          this.#lastDelivered = r.sourceIndex;
          this.#handlers.onQuiet(r.sourceIndex);
        }
        return;
      }
      const i = eventIndex(r.event);
      if (isHidden(r.event.node.key ?? '/')) {
        // live streams never carry hidden keys: nothing exists between, so it comes next
        if (this.#lastDelivered === waitIndex - 1) this.#deliver(r.event);
        return;
      }
      if (i <= this.#lastDelivered) return;
      await new Promise((res) => setTimeout(res, this.#options.stallGraceMs));
      if (connection === this.#connection && !this.#isStopped && this.#lastDelivered < i) {
        this.#log.error(
          `the watch stream stalled (event ${i} seen in history but not streamed); reconnecting`,
        );
        await this.#connect();
      }
    } catch (e) {
      if (e instanceof HistoryGapError) this.#fatal(e);
      else this.#log.debug(`stream probe failed: ${(e as Error).message}`);
    } finally {
      this.#isProbing = false;
    }
  }
}
