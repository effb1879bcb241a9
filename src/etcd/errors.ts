import { GalleyError } from '../core/errors.js';

/** Where a request went: shown in every error so the operator knows which member and key failed. */
export interface RequestContext {
  /** Base URL of the endpoint, e.g. `https://conf1001.eqiad.wmnet:4001`. */
  endpoint: string;
  method: string;
  /** Path of the request, e.g. `/v2/keys/conftool/pools`. */
  path: string;
  /** The key asked about, when the request is about a key. */
  key?: string;
}

/** The JSON body etcd answers with on a keys-API error. */
export interface EtcdErrorBody {
  errorCode: number;
  message: string;
  cause?: string;
  index?: number;
}

function where(ctx: RequestContext): string {
  return ctx.key !== undefined
    ? `key ${ctx.key} on ${ctx.endpoint}`
    : `${ctx.method} ${ctx.path} on ${ctx.endpoint}`;
}

/** Any failure talking to etcd or its proxy. */
export class EtcdClientError extends GalleyError {
  readonly endpoint: string;
  readonly key: string | undefined;

  constructor(
    message: string,
    ctx: RequestContext,
    options: { suggestions?: string[]; cause?: unknown } = {},
  ) {
    super(message, options);
    this.endpoint = ctx.endpoint;
    this.key = ctx.key;
  }
}

/** etcd refused the request with an errorCode (the keys API). */
export class EtcdError extends EtcdClientError {
  readonly errorCode: number;
  readonly httpStatus: number;
  /** The etcd index at the time of the error (from the body or `X-Etcd-Index`). */
  readonly etcdIndex: number | undefined;
  readonly etcdCause: string | undefined;

  constructor(
    message: string,
    ctx: RequestContext,
    details: { errorCode: number; httpStatus: number; etcdIndex?: number; etcdCause?: string },
    suggestions: string[] = [],
  ) {
    super(message, ctx, { suggestions });
    this.errorCode = details.errorCode;
    this.httpStatus = details.httpStatus;
    this.etcdIndex = details.etcdIndex;
    this.etcdCause = details.etcdCause;
  }
}

type Details = ConstructorParameters<typeof EtcdError>[2];

/** errorCode 100: the key does not exist. */
export class EtcdKeyNotFoundError extends EtcdError {
  constructor(ctx: RequestContext, d: Details) {
    super(`key not found: ${where(ctx)}`, ctx, d, [
      'check the key path (keys are case-sensitive, start with /)',
    ]);
  }
}

/** errorCode 101: a compare-and-swap or compare-and-delete condition did not hold. */
export class EtcdCompareFailedError extends EtcdError {
  constructor(ctx: RequestContext, d: Details) {
    super(
      `compare failed on ${where(ctx)}: ${d.etcdCause ?? 'the key changed'} (someone else changed it)`,
      ctx,
      d,
      ['read the key again and decide whether the concurrent change must be kept before retrying'],
    );
  }
}

/** errorCode 102: the operation needs a file (a value) but the key is a directory. */
export class EtcdNotAFileError extends EtcdError {
  constructor(ctx: RequestContext, d: Details) {
    super(`${where(ctx)} is a directory, not a value`, ctx, d, [
      'to delete a directory pass dir: true (empty) or recursive: true (everything under it)',
    ]);
  }
}

/** errorCode 104: the operation needs a directory but the key is a value. */
export class EtcdNotADirError extends EtcdError {
  constructor(ctx: RequestContext, d: Details) {
    super(`${where(ctx)} is a value, not a directory: ${d.etcdCause ?? ''}`.trimEnd(), ctx, d, [
      'a path component is a value; check the key path',
    ]);
  }
}

/** errorCode 105: create (prevExist=false) on an existing key. */
export class EtcdNodeExistsError extends EtcdError {
  constructor(ctx: RequestContext, d: Details) {
    super(`${where(ctx)} already exists`, ctx, d, [
      'read it first, or use set / compare-and-swap to replace it',
    ]);
  }
}

/** errorCode 107: the cluster (its proxy) is in read-only mode. */
export class EtcdReadOnlyError extends EtcdError {
  constructor(ctx: RequestContext, d: Details) {
    super(`write refused on ${where(ctx)}: the cluster is in read-only mode`, ctx, d, [
      'write to the master datacenter, or switch this proxy to read-write if this cluster is the master',
    ]);
  }
}

/** errorCode 108: deleting a non-empty directory without recursive. */
export class EtcdDirNotEmptyError extends EtcdError {
  constructor(ctx: RequestContext, d: Details) {
    super(`directory ${where(ctx)} is not empty`, ctx, d, [
      'pass recursive: true to delete it with everything under it',
    ]);
  }
}

/** errorCode 401: a watch asked for an index older than the last 1,000 events etcd keeps. */
export class EtcdIndexClearedError extends EtcdError {
  /** Oldest index etcd still has, from the cause `[oldest/requested]`. */
  readonly oldestIndex: number | undefined;
  readonly requestedIndex: number | undefined;

  constructor(ctx: RequestContext, d: Details) {
    const m = /\[(\d+)\/(\d+)\]/.exec(d.etcdCause ?? '');
    const oldest = m ? Number(m[1]) : undefined;
    const requested = m ? Number(m[2]) : undefined;
    super(
      `watch on ${where(ctx)} lost events: index ${requested ?? '?'} is outdated and cleared ` +
        `(etcd keeps the last 1000 events; oldest now ${oldest ?? '?'}; cause ${d.etcdCause ?? 'unknown'})`,
      ctx,
      d,
      ['re-read the whole tree (get recursive) and watch again from its X-Etcd-Index + 1'],
    );
    this.oldestIndex = oldest;
    this.requestedIndex = requested;
  }
}

/** Any other etcd errorCode. */
export class EtcdOtherError extends EtcdError {
  constructor(ctx: RequestContext, d: Details, message: string) {
    super(
      `etcd error ${d.errorCode} on ${where(ctx)}: ${message}${d.etcdCause ? ` (${d.etcdCause})` : ''}`,
      ctx,
      d,
    );
  }
}

/** An HTTP answer that is not an etcd keys error (members API, stats, proxy). */
export class EtcdHttpError extends EtcdClientError {
  readonly httpStatus: number;
  readonly body: string;

  constructor(
    message: string,
    ctx: RequestContext,
    httpStatus: number,
    body: string,
    suggestions: string[] = [],
  ) {
    super(message, ctx, { suggestions });
    this.httpStatus = httpStatus;
    this.body = body;
  }
}

/** HTTP 401: the proxy refused the credentials. */
export class EtcdAuthError extends EtcdHttpError {
  constructor(ctx: RequestContext, body: string, username: string | undefined) {
    super(
      username === undefined
        ? `${ctx.endpoint} requires authentication (HTTP 401) and no credentials are configured`
        : `${ctx.endpoint} refused the credentials of user "${username}" (HTTP 401)`,
      ctx,
      401,
      body,
      [
        'check etcd.credentials in the environment file (username, and the password file or variable it names)',
      ],
    );
  }
}

/** HTTP 403 from the proxy (nginx), not from etcd: the path or the method is denied. */
export class EtcdProxyForbiddenError extends EtcdHttpError {
  constructor(ctx: RequestContext, body: string) {
    super(
      `the proxy at ${ctx.endpoint} denied ${ctx.method} ${ctx.path} (HTTP 403 from the proxy, not from etcd)`,
      ctx,
      403,
      body,
      [
        'the user may lack the ACL for this path, or the proxy may be read-only; check the proxy configuration',
      ],
    );
  }
}

/** A member change refused by etcd (409 duplicate, 404 unknown member, 500 unhealthy right after a join…). */
export class EtcdMemberChangeError extends EtcdHttpError {}

/** A request could not reach an endpoint (refused, reset, unreachable, DNS) or got no answer in time. */
export class EtcdUnreachableError extends EtcdClientError {
  readonly reason: 'refused' | 'timeout' | 'network';

  constructor(
    ctx: RequestContext,
    reason: 'refused' | 'timeout' | 'network',
    detail: string,
    cause?: unknown,
  ) {
    const what =
      reason === 'refused'
        ? 'connection refused'
        : reason === 'timeout'
          ? `no answer within ${detail}`
          : `network error (${detail})`;
    super(`cannot reach etcd at ${ctx.endpoint} for ${ctx.method} ${ctx.path}: ${what}`, ctx, {
      cause,
      suggestions: [
        'check that etcd (and its proxy) run on that member and that the address and port are right',
      ],
    });
    this.reason = reason;
  }
}

/** Every endpoint failed with a connection error or a timeout. */
export class EtcdAllEndpointsFailedError extends EtcdClientError {
  readonly failures: EtcdUnreachableError[];

  constructor(ctx: RequestContext, failures: EtcdUnreachableError[]) {
    super(
      `no etcd endpoint answered ${ctx.method} ${ctx.path}: ${failures.map((f) => f.message.replace(/^cannot reach etcd at /, '')).join('; ')}`,
      ctx,
      {
        suggestions: [
          'check the cluster is up (cookbook etcd.status) and the endpoints in the environment file',
        ],
      },
    );
    this.failures = failures;
  }
}

/** The TLS handshake failed: unknown CA, wrong host name, expired certificate. */
export class EtcdTlsError extends EtcdClientError {
  readonly tlsCode: string;

  constructor(ctx: RequestContext, tlsCode: string, detail: string, caFile: string | undefined) {
    super(`TLS handshake with ${ctx.endpoint} failed: ${tlsCode} (${detail})`, ctx, {
      suggestions: [
        caFile === undefined
          ? 'set etcd.ca_file in the environment file to the CA that signed the proxy certificates'
          : `check that ${caFile} is the CA that signed the proxy certificates and that they name the member's host name`,
      ],
    });
    this.tlsCode = tlsCode;
  }
}

/** A response that is not what the API promises (bad JSON, missing fields). */
export class EtcdProtocolError extends EtcdClientError {}

function isEtcdErrorBody(v: unknown): v is EtcdErrorBody {
  return typeof v === 'object' && v !== null && typeof (v as EtcdErrorBody).errorCode === 'number';
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** Short printable excerpt of a body (first line, 200 characters). */
export function bodyExcerpt(body: string): string {
  const text = body
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Builds the typed error of an etcd errorCode body. */
export function etcdErrorFromBody(
  ctx: RequestContext,
  httpStatus: number,
  body: EtcdErrorBody,
  headerIndex?: number,
): EtcdError {
  const d: Details = {
    errorCode: body.errorCode,
    httpStatus,
    // A proxy's canned error says index 0: the header (if any) is better than a fake index.
    etcdIndex: body.index !== undefined && body.index > 0 ? body.index : headerIndex,
    etcdCause: body.cause,
  };
  switch (body.errorCode) {
    case 100:
      return new EtcdKeyNotFoundError(ctx, d);
    case 101:
      return new EtcdCompareFailedError(ctx, d);
    case 102:
      return new EtcdNotAFileError(ctx, d);
    case 104:
      return new EtcdNotADirError(ctx, d);
    case 105:
      return new EtcdNodeExistsError(ctx, d);
    case 107:
      return new EtcdReadOnlyError(ctx, d);
    case 108:
      return new EtcdDirNotEmptyError(ctx, d);
    case 401:
      return new EtcdIndexClearedError(ctx, d);
    default:
      return new EtcdOtherError(ctx, d, body.message);
  }
}

/**
 * Turns a non-2xx answer into a typed error. An etcd errorCode body gives an {@link EtcdError};
 * 401 is bad credentials; a 403 whose body is not etcd JSON came from the proxy.
 */
export function errorFromResponse(
  ctx: RequestContext,
  status: number,
  body: string,
  options: { headerIndex?: number; username?: string } = {},
): EtcdClientError {
  const json = parseJson(body);
  if (isEtcdErrorBody(json)) return etcdErrorFromBody(ctx, status, json, options.headerIndex);
  if (status === 401) return new EtcdAuthError(ctx, body, options.username);
  const message =
    typeof json === 'object' && json !== null && typeof (json as { message?: unknown }).message === 'string'
      ? (json as { message: string }).message
      : undefined;
  if (status === 403 && message === undefined) return new EtcdProxyForbiddenError(ctx, body);
  const text = message ?? bodyExcerpt(body);
  return new EtcdHttpError(
    `${ctx.method} ${ctx.path} on ${ctx.endpoint} failed: HTTP ${status}${text ? `: ${text}` : ''}`,
    ctx,
    status,
    body,
  );
}
