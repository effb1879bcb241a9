import {
  EtcdHttpError,
  EtcdMemberChangeError,
  EtcdProtocolError,
  errorFromResponse,
  bodyExcerpt,
  type RequestContext,
} from './errors.js';
import {
  EtcdTransport,
  endpointLabel,
  type EtcdHttpRequest,
  type EtcdHttpResponse,
  type EtcdTransportOptions,
} from './http.js';
import { retryUntilDeadline } from './retry.js';
import type { EtcdEvent } from './types.js';
import { keyPath, memberPath, normalizeKey } from './url.js';
import { WatchFeed, type WatchFeedHandlers, type WatchFeedOptions } from './watch-stream.js';

export type { EtcdEvent, EtcdNode } from './types.js';
export { eventIndex } from './types.js';

/** The answer to a keys-API request. */
export interface EtcdResult extends EtcdEvent {
  /** `X-Etcd-Index`: the etcd index when the request was answered. */
  etcdIndex: number | undefined;
  /** Which endpoint answered. */
  endpoint: string;
}

export interface EtcdMember {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
}

export type LeaderStats =
  | { isLeader: true; leader: string; followers: Record<string, unknown>; endpoint: string }
  | { isLeader: false; endpoint: string };

export interface SelfStats {
  name: string;
  id: string;
  state: string;
  leaderId: string | undefined;
  startTime: string | undefined;
  endpoint: string;
}

export interface RequestOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface GetOptions extends RequestOptions {
  recursive?: boolean;
  sorted?: boolean;
  /** Linearizable read through the raft leader. */
  quorum?: boolean;
}

export interface SetOptions extends RequestOptions {
  ttlSeconds?: number;
  prevValue?: string;
  prevIndex?: number;
  prevExist?: boolean;
}

export interface DeleteOptions extends RequestOptions {
  dir?: boolean;
  recursive?: boolean;
  prevValue?: string;
  prevIndex?: number;
}

export interface WatchOptions extends RequestOptions {
  recursive?: boolean;
  /** First index to report; events from history are returned while inside etcd's 1,000-event window. */
  waitIndex?: number;
}

export interface StreamWatchOptions extends WatchOptions {
  /** Silence after which the stream is checked for events etcd dropped (default 10 s; 0: never). */
  stallCheckMs?: number;
}

/**
 * One write as a replicator replays it: a PUT (a value or a directory) or a DELETE, with etcd's
 * own parameters (value, dir, prevExist, prevValue, prevIndex, recursive).
 */
export interface KeyWrite {
  method: 'PUT' | 'DELETE';
  key: string;
  /** Form parameters of a PUT, query parameters of a DELETE. */
  params: Record<string, string>;
}

export interface MemberChangeOptions extends RequestOptions {
  /** How long to keep retrying while etcd refuses the change with a bare HTTP 500. */
  deadlineMs?: number;
  /** Told about each refusal that will be retried (to log "etcd refused, retrying"). */
  onRetry?: (attempt: number, error: EtcdMemberChangeError) => void;
}

export interface EtcdClientOptions extends EtcdTransportOptions {
  /** Default deadline for member changes refused right after a join (default 10 s). */
  memberChangeDeadlineMs?: number;
}

function params(
  o: Record<string, string | number | boolean | undefined>,
): Record<string, string | number | boolean | undefined> {
  return o;
}

/**
 * A client of the etcd v2 HTTP API: keys (with compare-and-swap and TTLs), watches (long-poll
 * and stream), members, stats, health and version. Requests fail over to the next endpoint on
 * connection errors and timeouts; etcd's own refusals become typed errors (see errors.ts).
 */
export class EtcdClient {
  readonly #t: EtcdTransport;
  readonly #options: EtcdClientOptions;

  constructor(options: EtcdClientOptions, transport?: EtcdTransport) {
    this.#options = options;
    this.#t = transport ?? new EtcdTransport(options);
  }

  /** The endpoints, in fail-over order, as results and errors name them (host name when known). */
  get endpoints(): string[] {
    return this.#t.endpoints.map(endpointLabel);
  }

  /**
   * A client that talks to one endpoint only (for per-member health, stats, leader). It shares
   * this client's connections; closing this client closes them.
   */
  forEndpoint(index: number): EtcdClient {
    return new EtcdClient(this.#options, this.#t.only(index));
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.#t.close();
  }

  // ---- keys ----

  /** Reads a key or a directory (recursive: the whole tree). */
  async get(key: string, options: GetOptions = {}): Promise<EtcdResult> {
    return this.#keys(
      {
        method: 'GET',
        path: keyPath(key),
        key: normalizeKey(key),
        query: params({ recursive: options.recursive, sorted: options.sorted, quorum: options.quorum }),
      },
      options,
    );
  }

  /** Sets a value, optionally with a TTL and conditions (prevValue, prevIndex, prevExist). */
  async set(key: string, value: string, options: SetOptions = {}): Promise<EtcdResult> {
    return this.#keys(
      {
        method: 'PUT',
        path: keyPath(key),
        key: normalizeKey(key),
        form: params({
          value,
          ttl: options.ttlSeconds,
          prevValue: options.prevValue,
          prevIndex: options.prevIndex,
          prevExist: options.prevExist,
        }),
      },
      options,
    );
  }

  /** Creates a key that must not exist yet (prevExist=false); EtcdNodeExistsError otherwise. */
  async create(
    key: string,
    value: string,
    options: Omit<SetOptions, 'prevExist' | 'prevValue' | 'prevIndex'> = {},
  ): Promise<EtcdResult> {
    return this.set(key, value, { ...options, prevExist: false });
  }

  /** Creates an in-order key (POST) under a directory: etcd names it after its index. */
  async createInOrder(
    dir: string,
    value: string,
    options: { ttlSeconds?: number } & RequestOptions = {},
  ): Promise<EtcdResult> {
    return this.#keys(
      {
        method: 'POST',
        path: keyPath(dir),
        key: normalizeKey(dir),
        form: params({ value, ttl: options.ttlSeconds }),
      },
      options,
    );
  }

  /**
   * Replaces a value only if it is still the expected one (prevValue) or unchanged since an
   * index (prevIndex); EtcdCompareFailedError otherwise.
   */
  async compareAndSwap(
    key: string,
    value: string,
    expected: { prevValue: string } | { prevIndex: number },
    options: { ttlSeconds?: number } & RequestOptions = {},
  ): Promise<EtcdResult> {
    return this.set(key, value, { ...options, ...expected });
  }

  /** Creates a directory (optionally with a TTL). */
  async mkdir(key: string, options: { ttlSeconds?: number } & RequestOptions = {}): Promise<EtcdResult> {
    return this.#keys(
      {
        method: 'PUT',
        path: keyPath(key),
        key: normalizeKey(key),
        form: params({ dir: true, ttl: options.ttlSeconds, prevExist: false }),
      },
      options,
    );
  }

  /** Extends the TTL of an existing key without changing its value (no watch event is sent). */
  async refreshTtl(key: string, ttlSeconds: number, options: RequestOptions = {}): Promise<EtcdResult> {
    return this.#keys(
      {
        method: 'PUT',
        path: keyPath(key),
        key: normalizeKey(key),
        form: params({ ttl: ttlSeconds, refresh: true, prevExist: true }),
      },
      options,
    );
  }

  /** Deletes a key; a directory needs dir (empty) or recursive; prevValue/prevIndex make it conditional. */
  async delete(key: string, options: DeleteOptions = {}): Promise<EtcdResult> {
    return this.#keys(
      {
        method: 'DELETE',
        path: keyPath(key),
        key: normalizeKey(key),
        query: params({
          dir: options.dir,
          recursive: options.recursive,
          prevValue: options.prevValue,
          prevIndex: options.prevIndex,
        }),
      },
      options,
    );
  }

  /**
   * Sends one write and returns once etcd accepted it, without parsing the answer: the lean
   * path etcdmirror replays thousands of events a second through. A refusal is thrown as the
   * typed error of its errorCode (EtcdCompareFailedError, EtcdNodeExistsError…), as everywhere.
   */
  async write(w: KeyWrite, options: RequestOptions = {}): Promise<void> {
    const req: EtcdHttpRequest = {
      method: w.method,
      path: keyPath(w.key),
      key: w.key,
      timeoutMs: options.timeoutMs,
      signal: options.signal,
    };
    if (w.method === 'PUT') req.form = w.params;
    else req.query = w.params;
    const res = await this.#t.request(req);
    if (res.status < 200 || res.status >= 300) this.#json(req, res);
  }

  // ---- watch ----

  /**
   * Waits for the next change at or under `key` (long-poll), from `waitIndex` if given.
   * No timeout unless one is passed. EtcdIndexClearedError if waitIndex fell out of history.
   */
  async watch(key: string, options: WatchOptions = {}): Promise<EtcdResult> {
    for (;;) {
      const req: EtcdHttpRequest = {
        method: 'GET',
        path: keyPath(key),
        key: normalizeKey(key),
        query: params({ wait: true, recursive: options.recursive, waitIndex: options.waitIndex }),
        timeoutMs: options.timeoutMs ?? 0,
        signal: options.signal,
      };
      const res = await this.#t.request(req);
      // A proxy may end an idle long-poll with an empty 200: ask again.
      if (res.status === 200 && res.body.trim() === '') continue;
      return this.#parseKeys(req, res);
    }
  }

  /**
   * All changes at or under `key` as they happen, from `waitIndex` if given (else from now),
   * through the one stream watch ({@link WatchFeed}): one chunked `stream=true` response read
   * eagerly, the history before it caught up with concurrent long-polls, reconnection when it
   * ends or when etcd silently dropped it (checked every `stallCheckMs`). Throws
   * EtcdIndexClearedError when `waitIndex` left etcd's history. Stop by breaking out of the
   * loop or aborting the signal.
   */
  async *watchStream(
    key: string,
    options: StreamWatchOptions = {},
  ): AsyncGenerator<EtcdEvent, void, undefined> {
    const stallCheckMs = options.stallCheckMs ?? 10_000;
    const queue: EtcdEvent[] = [];
    let head = 0;
    let failure: { error: unknown } | undefined;
    let wake: (() => void) | undefined;
    const notify = (): void => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const feed = this.watchFeed(
      key,
      {
        onEvent: (ev) => {
          queue.push(ev);
          notify();
        },
        onFatal: (error) => {
          failure = { error };
          notify();
        },
      },
      {
        recursive: options.recursive === true,
        probeIntervalMs: stallCheckMs,
        stallGraceMs: Math.min(2000, stallCheckMs),
        quietWaitMs: Math.min(1000, stallCheckMs || 1000),
        headerTimeoutMs: options.timeoutMs,
      },
    );
    const onAbort = (): void => {
      feed.stop();
      notify();
    };
    if (options.signal?.aborted) return;
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      feed.start(options.waitIndex === undefined ? undefined : options.waitIndex - 1);
      for (;;) {
        if (head < queue.length) {
          const ev = queue[head++]!;
          if (head > 1024) {
            queue.splice(0, head);
            head = 0;
          }
          yield ev;
          continue;
        }
        if (options.signal?.aborted) return;
        if (failure) throw failure.error;
        await new Promise<void>((r) => (wake = r));
      }
    } finally {
      feed.stop();
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * The stream watch with callbacks instead of a generator: what etcdmirror feeds its scheduler
   * from (no promise per event). Call `start(fromIndex)` on it, and `stop()`.
   */
  watchFeed(key: string, handlers: WatchFeedHandlers, options: Partial<WatchFeedOptions> = {}): WatchFeed {
    return new WatchFeed(this.#t, key, handlers, options);
  }

  // ---- members ----

  /** The cluster's members. */
  async members(options: RequestOptions = {}): Promise<EtcdMember[]> {
    const req: EtcdHttpRequest = { method: 'GET', path: '/v2/members', ...options };
    const res = await this.#t.request(req);
    const body = this.#json(req, res) as { members?: EtcdMember[] };
    if (!Array.isArray(body.members))
      throw new EtcdProtocolError(
        `GET /v2/members on ${res.endpoint} answered without a members list`,
        this.#ctx(req, res.endpoint),
      );
    return body.members.map(normalizeMember);
  }

  /** Adds a member by its peer URLs; it must then start with --initial-cluster-state existing. */
  async addMember(peerURLs: string[], options: MemberChangeOptions = {}): Promise<EtcdMember> {
    const req: EtcdHttpRequest = {
      method: 'POST',
      path: '/v2/members',
      json: { peerURLs },
      timeoutMs: options.timeoutMs,
      signal: options.signal,
    };
    const res = await this.#memberChange(req, 201, options);
    return normalizeMember(JSON.parse(res.body) as EtcdMember);
  }

  /** Removes a member by id (the removed etcd exits by itself). */
  async removeMember(id: string, options: MemberChangeOptions = {}): Promise<void> {
    await this.#memberChange(
      { method: 'DELETE', path: memberPath(id), timeoutMs: options.timeoutMs, signal: options.signal },
      204,
      options,
    );
  }

  /** Changes a member's peer URLs (after a restore with --force-new-cluster, for instance). */
  async updateMember(id: string, peerURLs: string[], options: MemberChangeOptions = {}): Promise<void> {
    await this.#memberChange(
      {
        method: 'PUT',
        path: memberPath(id),
        json: { peerURLs },
        timeoutMs: options.timeoutMs,
        signal: options.signal,
      },
      204,
      options,
    );
  }

  /**
   * Moves raft leadership to the member `targetId` (hex, as /v2/members names it), through the
   * v3 gRPC gateway (`/v3/maintenance/transfer-leadership`, on by default in etcd 3.4). Must be
   * sent to the current leader (use {@link forEndpoint}); etcd answers once the transfer is done.
   */
  async moveLeader(targetId: string, options: RequestOptions = {}): Promise<void> {
    if (!/^[0-9a-f]{1,16}$/i.test(targetId))
      throw new TypeError(`not a member id: ${JSON.stringify(targetId)}`);
    const req: EtcdHttpRequest = {
      method: 'POST',
      path: '/v3/maintenance/transfer-leadership',
      json: { targetID: BigInt(`0x${targetId}`).toString() },
      ...options,
    };
    const res = await this.#t.request(req);
    this.#json(req, res);
  }

  // ---- stats, health, version ----

  /** Leader statistics: only the leader answers them (a follower says "not current leader"). */
  async leaderStats(options: RequestOptions = {}): Promise<LeaderStats> {
    const req: EtcdHttpRequest = { method: 'GET', path: '/v2/stats/leader', ...options };
    const res = await this.#t.request(req);
    if (res.status === 403 && /not current leader/.test(res.body))
      return { isLeader: false, endpoint: res.endpoint };
    const body = this.#json(req, res) as { leader?: string; followers?: Record<string, unknown> };
    return {
      isLeader: true,
      leader: body.leader ?? '',
      followers: body.followers ?? {},
      endpoint: res.endpoint,
    };
  }

  /** The answering member's own statistics: its name, id, raft state and leader. */
  async selfStats(options: RequestOptions = {}): Promise<SelfStats> {
    const req: EtcdHttpRequest = { method: 'GET', path: '/v2/stats/self', ...options };
    const res = await this.#t.request(req);
    const b = this.#json(req, res) as {
      name?: string;
      id?: string;
      state?: string;
      leaderInfo?: { leader?: string; startTime?: string };
    };
    return {
      name: b.name ?? '',
      id: b.id ?? '',
      state: b.state ?? '',
      leaderId: b.leaderInfo?.leader,
      startTime: b.leaderInfo?.startTime,
      endpoint: res.endpoint,
    };
  }

  /** `/health` of the answering member. */
  async health(options: RequestOptions = {}): Promise<{ healthy: boolean; endpoint: string }> {
    const req: EtcdHttpRequest = { method: 'GET', path: '/health', ...options };
    const res = await this.#t.request(req);
    if (res.status !== 200 && res.status !== 503)
      throw errorFromResponse(this.#ctx(req, res.endpoint), res.status, res.body, {
        username: this.#t.username,
      });
    let health: unknown;
    try {
      health = (JSON.parse(res.body) as { health?: unknown }).health;
    } catch {
      health = undefined;
    }
    return { healthy: res.status === 200 && (health === 'true' || health === true), endpoint: res.endpoint };
  }

  /** `/version` of the answering member: server and cluster versions. */
  async version(
    options: RequestOptions = {},
  ): Promise<{ server: string; cluster: string; endpoint: string }> {
    const req: EtcdHttpRequest = { method: 'GET', path: '/version', ...options };
    const res = await this.#t.request(req);
    const b = this.#json(req, res) as { etcdserver?: string; etcdcluster?: string };
    return { server: b.etcdserver ?? '', cluster: b.etcdcluster ?? '', endpoint: res.endpoint };
  }

  // ---- internals ----

  #ctx(req: EtcdHttpRequest, endpoint: string): RequestContext {
    return { endpoint, method: req.method, path: req.path, key: req.key };
  }

  async #keys(req: EtcdHttpRequest, options: RequestOptions): Promise<EtcdResult> {
    const full: EtcdHttpRequest = { ...req, timeoutMs: options.timeoutMs, signal: options.signal };
    return this.#parseKeys(full, await this.#t.request(full));
  }

  #parseKeys(req: EtcdHttpRequest, res: EtcdHttpResponse): EtcdResult {
    const body = this.#json(req, res) as Partial<EtcdEvent>;
    if (typeof body.action !== 'string' || typeof body.node !== 'object' || body.node === null) {
      throw new EtcdProtocolError(
        `${req.method} ${req.path} on ${res.endpoint} answered HTTP ${res.status} without action and node: ${bodyExcerpt(res.body)}`,
        this.#ctx(req, res.endpoint),
      );
    }
    return {
      action: body.action,
      node: body.node,
      ...(body.prevNode ? { prevNode: body.prevNode } : {}),
      etcdIndex: res.etcdIndex,
      endpoint: res.endpoint,
    };
  }

  /** Parses a 2xx JSON body, or throws the typed error of a non-2xx answer. */
  #json(req: EtcdHttpRequest, res: EtcdHttpResponse): unknown {
    const ctx = this.#ctx(req, res.endpoint);
    if (res.status < 200 || res.status >= 300) {
      const err = errorFromResponse(ctx, res.status, res.body, {
        headerIndex: res.etcdIndex,
        username: this.#t.username,
      });
      const timedOut = res.failedOver?.filter((f) => f.reason === 'timeout') ?? [];
      if (req.method !== 'GET' && timedOut.length) {
        err.suggestions.unshift(
          `this request first timed out on ${timedOut.map((f) => f.endpoint).join(', ')} and may have been applied there: read the key before retrying`,
        );
      }
      throw err;
    }
    try {
      return JSON.parse(res.body);
    } catch {
      throw new EtcdProtocolError(
        `${req.method} ${req.path} on ${res.endpoint} answered HTTP ${res.status} with a body that is not JSON: ${bodyExcerpt(res.body)}`,
        ctx,
      );
    }
  }

  async #memberChange(
    req: EtcdHttpRequest,
    expected: number,
    options: MemberChangeOptions,
  ): Promise<EtcdHttpResponse> {
    const deadlineMs = options.deadlineMs ?? this.#options.memberChangeDeadlineMs ?? 10_000;
    let attempts = 0;
    try {
      const { value } = await retryUntilDeadline(
        async () => {
          attempts++;
          const res = await this.#t.request(req);
          if (res.status !== expected) {
            const err = errorFromResponse(this.#ctx(req, res.endpoint), res.status, res.body, {
              username: this.#t.username,
            });
            if (err instanceof EtcdHttpError && err.constructor === EtcdHttpError) {
              throw new EtcdMemberChangeError(
                err.message,
                this.#ctx(req, res.endpoint),
                res.status,
                res.body,
                memberChangeAdvice(res.status),
              );
            }
            throw err;
          }
          return res;
        },
        {
          deadlineMs,
          signal: options.signal,
          isRetryable: (e) => e instanceof EtcdMemberChangeError && e.httpStatus >= 500,
          onRetry: (n, e) => options.onRetry?.(n, e as EtcdMemberChangeError),
        },
      );
      return value;
    } catch (e) {
      if (e instanceof EtcdMemberChangeError && e.httpStatus >= 500 && attempts > 1) {
        throw new EtcdMemberChangeError(
          `${e.message} (still refused after ${attempts} attempts over ${deadlineMs} ms)`,
          { endpoint: e.endpoint, method: req.method, path: req.path },
          e.httpStatus,
          e.body,
          e.suggestions,
        );
      }
      throw e;
    }
  }
}

function memberChangeAdvice(status: number): string[] {
  if (status === 409)
    return ['the peer URL is already a member: list the members and remove the stale one first'];
  if (status === 404)
    return ['no member has this id: list the members (ids change when a member is re-added)'];
  if (status >= 500)
    return [
      'etcd refuses member changes for a few seconds after a join; wait until every member is healthy and retry',
    ];
  return [];
}

function normalizeMember(m: Partial<EtcdMember>): EtcdMember {
  return { id: m.id ?? '', name: m.name ?? '', peerURLs: m.peerURLs ?? [], clientURLs: m.clientURLs ?? [] };
}
