import type { IncomingMessage } from 'node:http';
import type { Logger } from '../core/log.js';
import { sleep, WaitAborted } from '../util/wait.js';
import {
  bodyExcerpt,
  EtcdIndexClearedError,
  EtcdProtocolError,
  EtcdUnreachableError,
  errorFromResponse,
  type RequestContext,
} from './errors.js';
import type { EtcdHttpRequest, EtcdHttpStream, EtcdTransport } from './http.js';
import { LineSplitter } from './lines.js';
import { isTransientEtcdError } from './retry.js';
import { type EtcdEvent, eventIndex } from './types.js';
import { isHiddenKey, keyPath, normalizeKey } from './url.js';

/** What a watch feed reports, always in index order. */
export interface WatchFeedHandlers {
  /** The next event (indexes strictly increase). */
  onEvent(ev: EtcdEvent): void;
  /** No event exists between the last one delivered and `upTo`. */
  onQuiet?(upTo: number): void;
  /** The cluster's current index, as last seen. */
  onSourceIndex?(index: number): void;
  /** A (re)connection will now deliver the history up to `upTo`, then live events. */
  onHistoryStart?(upTo: number): void;
  /** History up to `upTo` has been delivered after a (re)connection. */
  onCaughtUp?(upTo: number): void;
  /**
   * The feed cannot go on: an EtcdIndexClearedError when the next event has left etcd's
   * 1000-event history, a transient error that outlasted `retryForMs`, or any other etcd
   * refusal (credentials, TLS, a proxy denying the path).
   */
  onFatal(error: unknown): void;
}

/** Tunables (defaults suit etcdmirror in production; tests shorten them). */
export interface WatchFeedOptions {
  /** Watch everything below the key (default true). */
  recursive: boolean;
  /** Long-polls in flight while catching up from history. */
  catchUpConcurrency: number;
  /** How often the stream is checked for a silent drop (0: never). */
  probeIntervalMs: number;
  /** How long an event seen by the probe may be missing from the stream before reconnecting. */
  stallGraceMs: number;
  /** How long the probe's long-poll waits before concluding that nothing newer exists. */
  quietWaitMs: number;
  /** The same while catching up (history answers at once; only trailing index gaps wait). */
  historyQuietWaitMs: number;
  /** How long to keep retrying an unreachable cluster before giving up. */
  retryForMs: number;
  /** Timeout for the response headers of the stream and of each long-poll (default: the transport's). */
  headerTimeoutMs?: number;
  /** Where reconnections and stalls are reported (default: nowhere). */
  log?: Pick<Logger, 'debug' | 'info' | 'error'>;
}

export const DEFAULT_WATCH_FEED_OPTIONS: WatchFeedOptions = {
  recursive: true,
  catchUpConcurrency: 24,
  probeIntervalMs: 1000,
  stallGraceMs: 2000,
  quietWaitMs: 1000,
  historyQuietWaitMs: 2000,
  retryForMs: 30_000,
};

type PollResult =
  | { kind: 'event'; event: EtcdEvent; sourceIndex: number | undefined }
  | { kind: 'quiet'; sourceIndex: number | undefined };

const SILENT = { debug: () => undefined, info: () => undefined, error: () => undefined };

/** Parses one line of a watch stream (one JSON event per line). */
export function parseWatchLine(line: string, ctx: RequestContext): EtcdEvent {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new EtcdProtocolError(
      `watch stream on ${ctx.endpoint} sent a line that is not JSON: ${bodyExcerpt(line)}`,
      ctx,
    );
  }
  const ev = v as Partial<EtcdEvent> & { errorCode?: number };
  if (typeof ev.errorCode === 'number') throw errorFromResponse(ctx, 200, line);
  if (typeof ev.action !== 'string' || typeof ev.node !== 'object' || ev.node === null) {
    throw new EtcdProtocolError(
      `watch stream on ${ctx.endpoint} sent an event without action and node: ${bodyExcerpt(line)}`,
      ctx,
    );
  }
  return ev as EtcdEvent;
}

/**
 * Every change at or under a key, in order, without loss, as fast as etcd sends them: one
 * streamed watch (`stream=true`, opened at the head without waitIndex, because etcd sends a
 * single event and then nothing on a stream that starts in the past), the history before it
 * fetched by concurrent long-polls while the stream is buffered, eager reading (etcd silently
 * drops a watcher whose socket backs up), and a periodic probe (a long-poll at the next index)
 * that reconnects when etcd dropped the stream. Reconnects when the stream ends; retries
 * transient failures for `retryForMs`. The one stream watch of Galley: `EtcdClient.watchStream`
 * is a generator over it, and etcdmirror feeds its scheduler from its callbacks.
 */
export class WatchFeed {
  readonly #t: EtcdTransport;
  readonly #key: string;
  readonly #path: string;
  readonly #handlers: WatchFeedHandlers;
  readonly #o: WatchFeedOptions;
  readonly #log: Pick<Logger, 'debug' | 'info' | 'error'>;
  readonly #stopped = new AbortController();
  #lastDelivered: number | undefined;
  #streamAbort: AbortController | undefined;
  #connection = 0;
  #probeTimer: NodeJS.Timeout | undefined;
  #isProbing = false;
  /** True while the history before the stream is being delivered (the stream is buffered meanwhile). */
  #isCatchingUp = false;
  #failingSince: number | undefined;

  constructor(
    transport: EtcdTransport,
    key: string,
    handlers: WatchFeedHandlers,
    options: Partial<WatchFeedOptions> = {},
  ) {
    this.#t = transport;
    this.#key = normalizeKey(key);
    this.#path = keyPath(this.#key);
    this.#handlers = handlers;
    this.#o = { ...DEFAULT_WATCH_FEED_OPTIONS, ...options };
    this.#log = options.log ?? SILENT;
  }

  get #isStopped(): boolean {
    return this.#stopped.signal.aborted;
  }

  /** Starts delivering the events after `fromIndex` (undefined: from the current head on). */
  start(fromIndex: number | undefined): void {
    this.#lastDelivered = fromIndex;
    void this.#connect();
    if (this.#o.probeIntervalMs > 0) {
      this.#probeTimer = setInterval(() => void this.#probe(), this.#o.probeIntervalMs);
      this.#probeTimer.unref();
    }
  }

  /** Stops and closes the stream and the long-polls in flight. */
  stop(): void {
    if (this.#isStopped) return;
    this.#stopped.abort();
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
    if (this.#lastDelivered !== undefined && i <= this.#lastDelivered) return;
    this.#lastDelivered = i;
    this.#handlers.onEvent(ev);
  }

  #request(
    query: Record<string, string | number | boolean | undefined>,
    signal: AbortSignal,
    timeoutMs?: number,
  ): EtcdHttpRequest {
    return {
      method: 'GET',
      path: this.#path,
      key: this.#key,
      query: { wait: true, recursive: this.#o.recursive ? true : undefined, ...query },
      timeoutMs: timeoutMs ?? this.#o.headerTimeoutMs,
      signal,
    };
  }

  /** Opens the stream, catches up from history while buffering it, then goes live. */
  async #connect(): Promise<void> {
    const connection = ++this.#connection;
    this.#streamAbort?.abort();
    const abort = new AbortController();
    this.#streamAbort = abort;
    let buffered: EtcdEvent[] | undefined = [];
    try {
      const req = this.#request({ stream: true }, abort.signal);
      const s = await this.#t.stream(req);
      if (s.status !== 200) {
        const body = await readBody(s.response);
        throw errorFromResponse(context(req, s), s.status, body, {
          headerIndex: s.etcdIndex,
          username: this.#t.username,
        });
      }
      const head = s.etcdIndex ?? 0;
      const ctx = context(req, s);
      const splitter = new LineSplitter();
      s.response.on('data', (chunk: Buffer) => {
        if (connection !== this.#connection) return;
        for (const line of splitter.push(chunk)) {
          let ev: EtcdEvent;
          try {
            ev = parseWatchLine(line, ctx);
          } catch (e) {
            if (e instanceof EtcdIndexClearedError) return this.#fatal(e);
            this.#log.error(
              `unreadable line in the watch stream, reconnecting: ${e instanceof Error ? e.message : String(e)}`,
            );
            void this.#reconnect(connection);
            return;
          }
          if (buffered) buffered.push(ev);
          else this.#deliver(ev);
        }
      });
      const onClosed = (): void => {
        if (connection === this.#connection && !this.#isStopped) {
          this.#log.info(
            `the watch stream from ${s.endpoint} closed at index ${this.#lastDelivered ?? head}, reconnecting`,
          );
          void this.#reconnect(connection);
        }
      };
      s.response.on('end', onClosed);
      s.response.on('error', onClosed);
      s.response.on('aborted', onClosed);
      this.#handlers.onSourceIndex?.(head);
      this.#lastDelivered ??= head;
      const from = this.#lastDelivered + 1;
      this.#log.debug(`watch stream open at index ${head}; catching up from ${from}`);
      this.#handlers.onHistoryStart?.(head);
      this.#isCatchingUp = true;
      const catchUpStarted = Date.now();
      await this.#fetchHistory(from, head, (ev) => {
        if (connection === this.#connection) this.#deliver(ev);
      });
      if (connection !== this.#connection) return;
      if (head > this.#lastDelivered) {
        this.#lastDelivered = head;
        this.#handlers.onQuiet?.(head);
      }
      this.#log.debug(`history ${from}..${head} delivered in ${Date.now() - catchUpStarted} ms`);
      this.#handlers.onCaughtUp?.(head);
      const pending = buffered;
      buffered = undefined;
      this.#isCatchingUp = false;
      for (const ev of pending) this.#deliver(ev);
      this.#failingSince = undefined;
    } catch (e) {
      if (connection === this.#connection) this.#isCatchingUp = false;
      if (this.#isStopped || connection !== this.#connection) return;
      if (!isTransientEtcdError(e)) return this.#fatal(e);
      const now = Date.now();
      this.#failingSince ??= now;
      if (now - this.#failingSince > this.#o.retryForMs) return this.#fatal(e);
      this.#log.error(
        `${this.#t.endpoints.length > 1 ? 'etcd' : 'source'} unavailable (${(e as Error).message}); retrying`,
      );
      if (!(await this.#pause(500))) return;
      if (connection === this.#connection) void this.#connect();
    }
  }

  /** Sleeps unless the feed stops meanwhile; false once it has stopped. */
  async #pause(ms: number): Promise<boolean> {
    try {
      await sleep(ms, this.#stopped.signal, 'watch');
    } catch (e) {
      if (e instanceof WaitAborted) return false;
      throw e;
    }
    return !this.#isStopped;
  }

  async #reconnect(connection: number): Promise<void> {
    if (connection !== this.#connection || this.#isStopped) return;
    if (!(await this.#pause(50))) return;
    if (connection === this.#connection) await this.#connect();
  }

  /**
   * One long-poll at `waitIndex`: the first event at or after it, or `quiet` when none came
   * within quietWaitMs (nothing newer exists yet).
   */
  async #poll(waitIndex: number, quietWaitMs: number, headerTimeoutMs?: number): Promise<PollResult> {
    const abort = new AbortController();
    const signal = AbortSignal.any([abort.signal, this.#stopped.signal]);
    const req = this.#request({ waitIndex }, signal, headerTimeoutMs);
    const s: EtcdHttpStream = await this.#t.stream(req);
    const sourceIndex = s.etcdIndex;
    const res = s.response;
    return new Promise<PollResult>((resolve, reject) => {
      let settled = false;
      const settle = (f: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        f();
      };
      const chunks: Buffer[] = [];
      // a busy event loop runs timers before reading sockets: look once more after the poll phase
      // before concluding that nothing came, so that a late-read answer is never taken for silence
      const timer = setTimeout(() => {
        setImmediate(() => {
          if (chunks.length || res.complete) return;
          settle(() => resolve({ kind: 'quiet', sourceIndex }));
          abort.abort();
          s.close();
        });
      }, quietWaitMs);
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => undefined);
      res.on('close', () =>
        settle(() =>
          this.#isStopped
            ? resolve({ kind: 'quiet', sourceIndex })
            : reject(new EtcdUnreachableError(context(req, s), 'network', 'the long-poll answer was cut')),
        ),
      );
      res.on('end', () =>
        settle(() => {
          const body = Buffer.concat(chunks).toString('utf8');
          const ctx = context(req, s);
          if (s.status !== 200)
            return reject(
              errorFromResponse(ctx, s.status, body, {
                headerIndex: s.etcdIndex,
                username: this.#t.username,
              }),
            );
          // a proxy may end an idle long-poll with an empty 200: nothing came
          if (body.trim() === '') return resolve({ kind: 'quiet', sourceIndex });
          try {
            resolve({ kind: 'event', event: parseWatchLine(body, ctx), sourceIndex });
          } catch (e) {
            reject(e);
          }
        }),
      );
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
        if (next > to || this.#isStopped) return;
        const waitIndex = next++;
        const r = await this.#poll(waitIndex, this.#o.historyQuietWaitMs);
        if (r.kind === 'quiet') {
          settle(waitIndex, to + 1);
          return;
        }
        const i = eventIndex(r.event);
        if (i <= to && i >= handedOver) events.set(i, r.event);
        settle(waitIndex, i);
      }
    };
    await Promise.all(Array.from({ length: this.#o.catchUpConcurrency }, worker));
  }

  /** Checks that the stream still delivers: what history has next must arrive on the stream soon. */
  async #probe(): Promise<void> {
    if (this.#isProbing || this.#isStopped || this.#isCatchingUp || this.#lastDelivered === undefined) return;
    this.#isProbing = true;
    const connection = this.#connection;
    try {
      const waitIndex = this.#lastDelivered + 1;
      // etcd answers a long-poll's headers at once: a connection that does not is itself stalled
      const r = await this.#poll(waitIndex, this.#o.quietWaitMs, Math.max(1000, this.#o.quietWaitMs));
      if (r.sourceIndex !== undefined) this.#handlers.onSourceIndex?.(r.sourceIndex);
      if (connection !== this.#connection || this.#isStopped) return;
      if (r.kind === 'quiet') {
        if (
          r.sourceIndex !== undefined &&
          r.sourceIndex > this.#lastDelivered &&
          this.#lastDelivered === waitIndex - 1
        ) {
          this.#lastDelivered = r.sourceIndex;
          this.#handlers.onQuiet?.(r.sourceIndex);
        }
        return;
      }
      const i = eventIndex(r.event);
      if (isHiddenKey(r.event.node.key)) {
        // live streams never carry hidden keys: nothing exists between, so it comes next
        if (this.#lastDelivered === waitIndex - 1) this.#deliver(r.event);
        return;
      }
      if (i <= this.#lastDelivered) return;
      if (!(await this.#pause(this.#o.stallGraceMs))) return;
      if (connection === this.#connection && this.#lastDelivered < i) {
        this.#log.error(
          `the watch stream stalled (event ${i} seen in history but not streamed); reconnecting`,
        );
        await this.#connect();
      }
    } catch (e) {
      if (e instanceof EtcdIndexClearedError) this.#fatal(e);
      else this.#log.debug(`stream probe failed: ${(e as Error).message}`);
    } finally {
      this.#isProbing = false;
    }
  }
}

function context(req: EtcdHttpRequest, s: EtcdHttpStream): RequestContext {
  return { endpoint: s.endpoint, method: req.method, path: req.path, key: req.key };
}

async function readBody(stream: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
