import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { ConfigError } from '../core/errors.js';
import { registerSecret, type Secret } from '../core/secrets.js';
import {
  EtcdAllEndpointsFailedError,
  EtcdTlsError,
  EtcdUnreachableError,
  type EtcdClientError,
  type RequestContext,
} from './errors.js';
import { buildPath } from './url.js';

/** One etcd member (or its proxy) to talk to. */
export interface EtcdEndpoint {
  /** Base URL: scheme, address and port, e.g. `https://127.0.1.1:4001`. */
  url: string;
  /**
   * The member's host name: the TLS server name checked against its certificate and the
   * `Host` header. Lets the client connect to an address while verifying the FQDN.
   */
  hostName?: string;
}

export interface EtcdTransportOptions {
  endpoints: EtcdEndpoint[];
  /** PEM of the CA that signed the endpoints' certificates (https only). */
  ca?: string | Buffer;
  /** Where the CA came from, for error messages. */
  caFile?: string;
  /** Basic-auth credentials; the password is revealed only to build the header. */
  credentials?: { username: string; password: Secret };
  /** Default per-request timeout (0: none). */
  timeoutMs: number;
  /** Keep-alive connections per endpoint at most (default 64). */
  maxSockets?: number;
}

type Params = Record<string, string | number | boolean | undefined>;

/** One HTTP request to etcd, before an endpoint is chosen. */
export interface EtcdHttpRequest {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  path: string;
  query?: Params;
  /** Sent as application/x-www-form-urlencoded. */
  form?: Params;
  /** Sent as application/json. */
  json?: unknown;
  /** The key the request is about, for error messages. */
  key?: string;
  /** Overrides the default timeout (0: none). For streams it covers only the response headers. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A buffered answer, whatever its status. */
export interface EtcdHttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The endpoint that answered. */
  endpoint: string;
  /** `X-Etcd-Index` of the answer, when present. */
  etcdIndex: number | undefined;
  /** Endpoints tried before this one answered (refused, or timed out: a timed-out write may have been applied). */
  failedOver?: EtcdUnreachableError[];
}

/** A streaming answer: the caller reads `response` and calls `close()` when done. */
export interface EtcdHttpStream {
  status: number;
  headers: IncomingHttpHeaders;
  response: IncomingMessage;
  endpoint: string;
  etcdIndex: number | undefined;
  close(): void;
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|CERT_|EPROTO$|HOSTNAME_MISMATCH)/;

const parsedUrls = new WeakMap<EtcdEndpoint, URL>();
const labels = new WeakMap<EtcdEndpoint, string>();

/** The endpoint's URL, parsed once. */
function urlOf(ep: EtcdEndpoint): URL {
  let u = parsedUrls.get(ep);
  if (!u) {
    u = new URL(ep.url);
    parsedUrls.set(ep, u);
  }
  return u;
}

/** How an endpoint is named in results and errors: its URL with the member's host name, if known. */
export function endpointLabel(ep: EtcdEndpoint): string {
  if (ep.hostName === undefined) return ep.url;
  let label = labels.get(ep);
  if (label === undefined) {
    const u = new URL(ep.url);
    u.hostname = ep.hostName;
    label = u.origin;
    labels.set(ep, label);
  }
  return label;
}

/** Reads `X-Etcd-Index` from response headers. */
export function etcdIndexOf(headers: IncomingHttpHeaders): number | undefined {
  const raw = headers['x-etcd-index'];
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** Encodes form or query parameters, leaving out undefined values. */
export function encodeParams(params: Params | undefined): string {
  if (!params) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.join('&');
}

/**
 * HTTP to a set of etcd endpoints with keep-alive, TLS, basic auth and timeouts. A request
 * that cannot reach an endpoint (connection refused, reset, timeout) goes to the next one;
 * an answer from etcd, whatever its status, is returned as is.
 */
export class EtcdTransport {
  readonly endpoints: readonly EtcdEndpoint[];
  readonly #options: EtcdTransportOptions;
  readonly #httpAgent: http.Agent;
  readonly #httpsAgent: https.Agent;
  /** Agents borrowed from the transport this one was derived from (closed by their owner). */
  readonly #sharedAgents: boolean;
  #preferred = 0;
  /** The Authorization header, built once (the password is revealed once). */
  #authorization: string | undefined;

  constructor(options: EtcdTransportOptions, agents?: { http: http.Agent; https: https.Agent }) {
    if (options.endpoints.length === 0) throw new Error('an etcd client needs at least one endpoint');
    this.endpoints = options.endpoints;
    this.#options = options;
    this.#sharedAgents = agents !== undefined;
    const maxSockets = options.maxSockets ?? 64;
    this.#httpAgent = agents?.http ?? new http.Agent({ keepAlive: true, maxSockets });
    this.#httpsAgent = agents?.https ?? new https.Agent({ keepAlive: true, maxSockets, ca: options.ca });
  }

  /** The user name of the configured credentials, if any (safe to print). */
  get username(): string | undefined {
    return this.#options.credentials?.username;
  }

  /** A transport to one of the endpoints only, with the same TLS, credentials and connections. */
  only(index: number): EtcdTransport {
    const ep = this.endpoints[index];
    if (!ep) throw new Error(`no endpoint #${index}: this client has ${this.endpoints.length}`);
    return new EtcdTransport(
      { ...this.#options, endpoints: [ep] },
      { http: this.#httpAgent, https: this.#httpsAgent },
    );
  }

  /** Sends a request and buffers the answer, failing over to the next endpoint on connection errors (and a proxy's 502/503/504). */
  async request(req: EtcdHttpRequest): Promise<EtcdHttpResponse> {
    const failures: EtcdUnreachableError[] = [];
    const res = await this.#withFailover(
      req,
      async (ep) => {
        const r = await this.#once(ep, req);
        this.#throwIfProxyGateway(ep, req, r.status, /^\s*\{/.test(r.body));
        return r;
      },
      failures,
    );
    return failures.length ? { ...res, failedOver: failures } : res;
  }

  /** Opens a streaming request (the watch stream), failing over like {@link request}. */
  async stream(req: EtcdHttpRequest): Promise<EtcdHttpStream> {
    return this.#withFailover(req, async (ep) => {
      const s = await this.#openStream(ep, req);
      // The body is not read yet: its content type tells etcd's JSON from nginx's own page.
      try {
        this.#throwIfProxyGateway(ep, req, s.status, /json/i.test(String(s.headers['content-type'] ?? '')));
      } catch (e) {
        s.close();
        throw e;
      }
      return s;
    });
  }

  /** Closes the keep-alive connections (a transport derived with only() leaves that to its parent). */
  close(): void {
    if (this.#sharedAgents) return;
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }

  async #withFailover<T>(
    req: EtcdHttpRequest,
    attempt: (ep: EtcdEndpoint) => Promise<T>,
    failures: EtcdUnreachableError[] = [],
  ): Promise<T> {
    const n = this.endpoints.length;
    const start = this.#preferred;
    for (let i = 0; i < n; i++) {
      const index = (start + i) % n;
      try {
        const out = await attempt(this.endpoints[index]!);
        this.#preferred = index;
        return out;
      } catch (e) {
        if (e instanceof EtcdUnreachableError && !req.signal?.aborted) {
          failures.push(e);
          continue;
        }
        throw e;
      }
    }
    if (failures.length === 1) throw failures[0]!;
    throw new EtcdAllEndpointsFailedError(this.#context(this.endpoints[start]!, req), failures);
  }

  /**
   * nginx answers 502/503/504 itself (not JSON) when the member's etcd behind it is down: that
   * member is unreachable, like a refused connection, so the fail-over tries the next one (for
   * requests and streams alike: a watch must not stay on a dead member's proxy).
   */
  #throwIfProxyGateway(ep: EtcdEndpoint, req: EtcdHttpRequest, status: number, isJson: boolean): void {
    if ((status === 502 || status === 503 || status === 504) && !isJson)
      throw new EtcdUnreachableError(
        this.#context(ep, req),
        'network',
        `the proxy answered HTTP ${status}: the etcd behind it is not reachable`,
      );
  }

  #context(ep: EtcdEndpoint, req: EtcdHttpRequest): RequestContext {
    return { endpoint: endpointLabel(ep), method: req.method, path: req.path, key: req.key };
  }

  #headers(ep: EtcdEndpoint, body: string | undefined, req: EtcdHttpRequest): Record<string, string> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (ep.hostName !== undefined) {
      const port = urlOf(ep).port;
      headers.Host = port ? `${ep.hostName}:${port}` : ep.hostName;
    }
    if (body !== undefined) {
      headers['Content-Type'] =
        req.json !== undefined ? 'application/json' : 'application/x-www-form-urlencoded';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    const cred = this.#options.credentials;
    if (cred && this.#authorization !== undefined) headers.Authorization = this.#authorization;
    else if (cred) {
      let password: string;
      try {
        password = cred.password.reveal();
      } catch (e) {
        throw new ConfigError(
          `cannot use the etcd password of user "${cred.username}": ${e instanceof Error ? e.message : String(e)}`,
          ['check etcd.credentials.password in the environment file (a file or an environment variable)'],
        );
      }
      const token = Buffer.from(`${cred.username}:${password}`).toString('base64');
      registerSecret(token);
      this.#authorization = `Basic ${token}`;
      headers.Authorization = this.#authorization;
    }
    return headers;
  }

  #send(
    ep: EtcdEndpoint,
    req: EtcdHttpRequest,
    onResponse: (res: IncomingMessage, finish: (err?: Error) => void, settle: (v: unknown) => void) => void,
    bufferedTimeout: boolean,
  ): Promise<unknown> {
    const ctx = this.#context(ep, req);
    const url = urlOf(ep);
    const isHttps = url.protocol === 'https:';
    const query = encodeParams(req.query);
    const path = buildPath(url.pathname, req.path) + (query ? `?${query}` : '');
    const body =
      req.json !== undefined ? JSON.stringify(req.json) : req.form ? encodeParams(req.form) : undefined;
    const timeoutMs = req.timeoutMs ?? this.#options.timeoutMs;
    const headers = this.#headers(ep, body, req);

    return new Promise((resolve, reject) => {
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const settle = (v: unknown): void => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        resolve(v);
      };
      const fail = (e: unknown): void => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        reject(e);
      };
      const options: https.RequestOptions = {
        method: req.method,
        host: url.hostname,
        port: url.port || (isHttps ? 443 : 80),
        path,
        headers,
        agent: isHttps ? this.#httpsAgent : this.#httpAgent,
        signal: req.signal,
      };
      if (isHttps && ep.hostName !== undefined) options.servername = ep.hostName;
      const r = (isHttps ? https : http).request(options, (res) => {
        if (!bufferedTimeout && timer) {
          clearTimeout(timer);
          timer = undefined;
        }
        onResponse(
          res,
          (err) => {
            if (err) fail(this.#classify(err, ctx));
          },
          settle,
        );
      });
      r.setNoDelay(true);
      r.on('error', (err) => fail(this.#classify(err, ctx)));
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          fail(new EtcdUnreachableError(ctx, 'timeout', `${timeoutMs} ms`));
          r.destroy();
        }, timeoutMs);
      }
      r.end(body);
    });
  }

  async #once(ep: EtcdEndpoint, req: EtcdHttpRequest): Promise<EtcdHttpResponse> {
    const attempt = () =>
      this.#send(
        ep,
        req,
        (res, finish, settle) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => finish(e));
          res.on('end', () =>
            settle({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8'),
              endpoint: endpointLabel(ep),
              etcdIndex: etcdIndexOf(res.headers),
            } satisfies EtcdHttpResponse),
          );
        },
        true,
      ) as Promise<EtcdHttpResponse>;
    try {
      return await attempt();
    } catch (e) {
      // A keep-alive socket the server closed while idle: one fresh attempt on the same endpoint.
      if (
        e instanceof EtcdUnreachableError &&
        e.reason === 'network' &&
        /ECONNRESET|socket hang up/.test(e.message)
      ) {
        return attempt();
      }
      throw e;
    }
  }

  async #openStream(ep: EtcdEndpoint, req: EtcdHttpRequest): Promise<EtcdHttpStream> {
    return (await this.#send(
      ep,
      req,
      (res, _finish, settle) => {
        settle({
          status: res.statusCode ?? 0,
          headers: res.headers,
          response: res,
          endpoint: endpointLabel(ep),
          etcdIndex: etcdIndexOf(res.headers),
          close: () => res.destroy(),
        } satisfies EtcdHttpStream);
      },
      false,
    )) as EtcdHttpStream;
  }

  #classify(err: Error, ctx: RequestContext): Error | EtcdClientError {
    if (err.name === 'AbortError') return err;
    if (err instanceof EtcdUnreachableError) return err;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (TLS_CODES.test(code) || /certificate|SSL|TLS/i.test(err.message)) {
      return new EtcdTlsError(ctx, code || 'TLS error', err.message, this.#options.caFile);
    }
    if (code === 'ECONNREFUSED') return new EtcdUnreachableError(ctx, 'refused', code, err);
    return new EtcdUnreachableError(ctx, 'network', code || err.message, err);
  }
}
