import {
  EtcdHttpError,
  EtcdIndexClearedError,
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
import { EagerLineReader } from './lines.js';
import { retryUntilDeadline } from './retry.js';
import { keyPath, memberPath, normalizeKey } from './url.js';

/** A node of the v2 keyspace. */
export interface EtcdNode {
  key: string;
  value?: string;
  dir?: boolean;
  nodes?: EtcdNode[];
  createdIndex: number;
  modifiedIndex: number;
  ttl?: number;
  expiration?: string;
}

/** A change, as a watch reports it (and as every write answers). */
export interface EtcdEvent {
  action: string;
  node: EtcdNode;
  prevNode?: EtcdNode;
}

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

/** Index of an event: the node's modifiedIndex (also for deletes and expirations). */
export function eventIndex(e: EtcdEvent): number {
  return e.node.modifiedIndex;
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
   * All changes at or under `key` as they happen, over one chunked `stream=true` response,
   * from `waitIndex` if given. Catches up on history with long-polls first (a stream opened at
   * a past index returns one event and then nothing), reopens the stream when it ends, and
   * reads eagerly so that etcd does not drop a slow reader. After `stallCheckMs` without an
   * event it asks etcd (one short long-poll) whether something happened that the stream did
   * not deliver, and reconnects if so. Stop by breaking out of the loop or aborting the signal.
   */
  async *watchStream(
    key: string,
    options: StreamWatchOptions = {},
  ): AsyncGenerator<EtcdEvent, void, undefined> {
    const stallCheckMs = options.stallCheckMs ?? 10_000;
    let next = options.waitIndex;
    const k = normalizeKey(key);
    while (!options.signal?.aborted) {
      const req: EtcdHttpRequest = {
        method: 'GET',
        path: keyPath(k),
        key: k,
        query: params({ wait: true, recursive: options.recursive, stream: true, waitIndex: next }),
        timeoutMs: options.timeoutMs,
        signal: options.signal,
      };
      let s;
      try {
        s = await this.#t.stream(req);
      } catch (e) {
        if (options.signal?.aborted) return;
        throw e;
      }
      try {
        if (s.status !== 200) {
          const body = await readAll(s.response);
          throw errorFromResponse(this.#ctx(req, s.endpoint), s.status, body, {
            headerIndex: s.etcdIndex,
            username: this.#t.username,
          });
        }
        if (next !== undefined && s.etcdIndex !== undefined && s.etcdIndex >= next) {
          // Behind the head: catch up with a long-poll, then try the stream again.
          s.close();
          let ev: EtcdResult;
          try {
            ev = await this.watch(k, {
              recursive: options.recursive,
              waitIndex: next,
              signal: options.signal,
            });
          } catch (e) {
            if (options.signal?.aborted) return;
            throw e;
          }
          next = eventIndex(ev) + 1;
          yield { action: ev.action, node: ev.node, ...(ev.prevNode ? { prevNode: ev.prevNode } : {}) };
          continue;
        }
        // From here on a reconnect must resume after the head this stream started at, so that
        // nothing written while reconnecting is missed.
        if (next === undefined && s.etcdIndex !== undefined) next = s.etcdIndex + 1;
        const reader = new EagerLineReader(s.response);
        let delivered = 0;
        let pending: Promise<string | undefined> | undefined;
        let settled = false;
        for (;;) {
          if (!pending) {
            settled = false;
            pending = reader.next().finally(() => (settled = true));
          }
          const got = await withinMs(pending, stallCheckMs);
          if (got === IDLE) {
            // Silence: make sure etcd has not dropped this watcher (it does so silently).
            if (
              next !== undefined &&
              (await this.#streamMissedEvents(
                k,
                options,
                next,
                s.endpoint,
                () => settled || reader.buffered > 0,
              ))
            )
              break;
            continue;
          }
          pending = undefined;
          const line = got.value;
          if (line === undefined) break;
          const ev = parseEvent(line, this.#ctx(req, s.endpoint));
          next = eventIndex(ev) + 1;
          delivered++;
          yield ev;
        }
        // The stream ended (a proxy timeout, a restart): reconnect, without spinning if it keeps ending at once.
        if (delivered === 0 && !options.signal?.aborted) await new Promise((r) => setTimeout(r, 200));
      } finally {
        s.close();
      }
    }
  }

  /** True if etcd has an event at or after `next` that a silent stream has not delivered. */
  async #streamMissedEvents(
    key: string,
    options: StreamWatchOptions,
    next: number,
    endpoint: string,
    streamHasData: () => boolean,
  ): Promise<boolean> {
    const i = this.#t.endpoints.findIndex((ep) => endpointLabel(ep) === endpoint);
    const probe = i >= 0 && this.#t.endpoints.length > 1 ? this.forEndpoint(i) : this;
    try {
      await probe.watch(key, {
        recursive: options.recursive,
        waitIndex: next,
        timeoutMs: 1000,
        signal: options.signal,
      });
    } catch (e) {
      if (e instanceof EtcdIndexClearedError) return true; // reconnecting reports it
      return false; // nothing new within the probe's time (or the probe failed): keep the stream
    }
    if (streamHasData()) return false;
    await new Promise((r) => setTimeout(r, 250));
    return !streamHasData();
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

const IDLE = Symbol('idle');

/** The promise's value, or IDLE if it takes longer than `ms` (0: wait for ever). */
async function withinMs<T>(p: Promise<T>, ms: number): Promise<{ value: T } | typeof IDLE> {
  if (ms <= 0) return { value: await p };
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<typeof IDLE>((r) => (timer = setTimeout(() => r(IDLE), ms)));
  try {
    return await Promise.race([p.then((value) => ({ value })), idle]);
  } finally {
    clearTimeout(timer);
  }
}

function normalizeMember(m: Partial<EtcdMember>): EtcdMember {
  return { id: m.id ?? '', name: m.name ?? '', peerURLs: m.peerURLs ?? [], clientURLs: m.clientURLs ?? [] };
}

function parseEvent(line: string, ctx: RequestContext): EtcdEvent {
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
  return { action: ev.action, node: ev.node, ...(ev.prevNode ? { prevNode: ev.prevNode } : {}) };
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}
