import http from 'node:http';
import https from 'node:https';
import { registerSecret } from '../core/secrets.js';
import { ClusterError } from './errors.js';

/** A node of the etcd v2 keyspace, as the API returns it. */
export interface EtcdNode {
  key?: string;
  value?: string;
  dir?: boolean;
  nodes?: EtcdNode[];
  ttl?: number;
  expiration?: string;
  modifiedIndex?: number;
  createdIndex?: number;
}

/** An etcd v2 watch event. */
export interface EtcdEvent {
  action: string;
  node: EtcdNode;
  prevNode?: EtcdNode;
}

/** An etcd v2 error body. */
export interface EtcdErrorBody {
  errorCode: number;
  message: string;
  cause?: string;
  index?: number;
}

/** The answer to one request: HTTP status, X-Etcd-Index, and the parsed body. */
export interface EtcdReply {
  status: number;
  etcdIndex: number | undefined;
  body: unknown;
}

/** Where a cluster is and how to authenticate, with the password kept out of the URL. */
export interface Endpoint {
  /** The URL with any credentials removed, safe to log. */
  readonly display: string;
  readonly base: URL;
  readonly authorization: string | undefined;
  readonly ca: Buffer | undefined;
}

/**
 * Builds an endpoint from a URL that may carry `user:password@`, or `user@` plus a password read
 * from a file. The password is registered with the redactor so it never reaches a log.
 */
export function makeEndpoint(rawUrl: string, options: { password?: string; ca?: Buffer } = {}): Endpoint {
  const u = new URL(rawUrl);
  const user = decodeURIComponent(u.username);
  const password = u.password ? decodeURIComponent(u.password) : options.password;
  u.username = '';
  u.password = '';
  let authorization: string | undefined;
  if (user) {
    if (password === undefined)
      throw new ClusterError(`${u.origin}: a user is given but no password (use --password-file)`);
    registerSecret(password);
    authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    registerSecret(authorization.slice(6));
  }
  const base = new URL(u.origin);
  return { display: u.origin, base, authorization, ca: options.ca };
}

/** Encodes a key path for a URL, segment by segment. */
export function keyPath(key: string): string {
  return (
    '/v2/keys' +
    key
      .split('/')
      .map((s) => encodeURIComponent(s))
      .join('/')
  );
}

/** Connection errors after which a request certainly never reached the member. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/**
 * A keep-alive etcd v2 HTTP client: small, and only what the mirror needs. Given several
 * members of a cluster, it talks to one and moves to the next when a request cannot reach it
 * (connection refused, reset): the caller's retry then lands on a live member.
 */
export class EtcdHttp {
  readonly #agent: http.Agent;
  readonly #endpoints: Endpoint[];
  #current = 0;
  readonly #isTls: boolean;

  constructor(endpoint: Endpoint | Endpoint[], maxSockets = 64) {
    this.#endpoints = Array.isArray(endpoint) ? endpoint : [endpoint];
    if (!this.#endpoints.length) throw new ClusterError('no endpoint given');
    this.#isTls = this.#endpoints[0]!.base.protocol === 'https:';
    this.#agent = this.#isTls
      ? new https.Agent({ keepAlive: true, maxSockets, ca: this.#endpoints[0]!.ca })
      : new http.Agent({ keepAlive: true, maxSockets });
  }

  get #endpoint(): Endpoint {
    return this.#endpoints[this.#current % this.#endpoints.length]!;
  }

  get display(): string {
    return this.#endpoint.display;
  }

  /**
   * Opens a request and returns the response object (headers received, body not read). When
   * the member cannot be reached at all (the connection was refused or has no route: the
   * request never left), the same request goes to the next member at once, each member tried
   * once; otherwise the next request goes to the next member. So a mirror whose first member is
   * down starts, and goes on, through the others.
   */
  async open(
    method: string,
    path: string,
    body: string | undefined,
    signal?: AbortSignal,
  ): Promise<http.IncomingMessage> {
    for (let tried = 1; ; tried++) {
      try {
        return await this.#openOnce(method, path, body, signal);
      } catch (e) {
        const code = (e as ClusterError & { cause?: NodeJS.ErrnoException }).cause?.code;
        const neverSent = code !== undefined && NEVER_SENT.has(code);
        if (!neverSent || tried >= this.#endpoints.length || signal?.aborted) throw e;
      }
    }
  }

  #openOnce(
    method: string,
    path: string,
    body: string | undefined,
    signal?: AbortSignal,
  ): Promise<http.IncomingMessage> {
    const headers: http.OutgoingHttpHeaders = {};
    if (this.#endpoint.authorization) headers.authorization = this.#endpoint.authorization;
    if (body !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const mod = this.#isTls ? https : http;
    const endpoint = this.#endpoint;
    const at = this.#current;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        {
          protocol: endpoint.base.protocol,
          hostname: endpoint.base.hostname,
          port: endpoint.base.port,
          method,
          path,
          headers,
          agent: this.#agent,
          signal,
        },
        resolve,
      );
      req.setNoDelay(true);
      req.on('error', (e) => {
        // This member cannot be reached: the next request goes to the next one.
        if (this.#current === at && this.#endpoints.length > 1) this.#current = at + 1;
        reject(
          new ClusterError(`${endpoint.display}: ${method} ${path.split('?')[0]} failed: ${e.message}`, e),
        );
      });
      req.end(body);
    });
  }

  /**
   * One request, body read and parsed as JSON. With `isBodyNeededOnSuccess` false a 2xx answer's
   * body is not parsed (the mirror's writes only need to know they succeeded: it saves CPU).
   */
  async request(
    method: string,
    path: string,
    params?: Record<string, string>,
    isBodyNeededOnSuccess = true,
  ): Promise<EtcdReply> {
    const query = params ? new URLSearchParams(params).toString() : '';
    const isBodyMethod = method === 'PUT' || method === 'POST';
    const fullPath = !isBodyMethod && query ? `${path}?${query}` : path;
    const res = await this.open(method, fullPath, isBodyMethod ? query : undefined);
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', resolve);
      res.on('error', (e) =>
        reject(new ClusterError(`${this.display}: reading the answer failed: ${e.message}`, e)),
      );
      res.on('aborted', () => reject(new ClusterError(`${this.display}: the answer was cut`)));
    });
    const idx = res.headers['x-etcd-index'];
    const etcdIndex = idx === undefined ? undefined : Number(idx);
    const status = res.statusCode ?? 0;
    if (!isBodyNeededOnSuccess && status >= 200 && status < 300)
      return { status, etcdIndex, body: undefined };
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON (a proxy's error page): keep the text
    }
    return { status, etcdIndex, body };
  }

  /** Closes the pooled connections. */
  close(): void {
    this.#agent.destroy();
  }
}

/** The etcd error in a reply, if any. */
export function etcdError(reply: EtcdReply): EtcdErrorBody | undefined {
  const b = reply.body as Partial<EtcdErrorBody> | undefined;
  if (b && typeof b === 'object' && typeof b.errorCode === 'number') return b as EtcdErrorBody;
  return undefined;
}

/** etcd v2 error codes the mirror reacts to. */
export const EtcdCode = {
  KEY_NOT_FOUND: 100,
  TEST_FAILED: 101,
  NOT_FILE: 102,
  NOT_DIR: 104,
  NODE_EXIST: 105,
  ROOT_RONLY: 107,
  DIR_NOT_EMPTY: 108,
  EVENT_INDEX_CLEARED: 401,
} as const;
