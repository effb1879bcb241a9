/**
 * The alerting transport: Alertmanager's API v2 (silences, alerts) and Prometheus' query API
 * (which alerts fire). Plain `fetch` with a timeout per request; errors name the server and
 * what it answered.
 */
import { GalleyError } from '../core/errors.js';

/** An Alertmanager matcher: `name=value`, `name=~regex`, `name!=value`, `name!~regex`. */
export interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  /** False for != and !~ (default true). */
  isEqual?: boolean;
}

export type SilenceState = 'active' | 'pending' | 'expired';

export interface Silence {
  id: string;
  matchers: Matcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
  state: SilenceState;
}

export interface NewSilence {
  matchers: Matcher[];
  startsAt: Date;
  endsAt: Date;
  createdBy: string;
  comment: string;
}

/** An alert as Alertmanager or Prometheus reports it. */
export interface Alert {
  labels: Record<string, string>;
  /** Alertmanager: active/suppressed/unprocessed; Prometheus: firing/pending. */
  state: string;
  silencedBy?: string[];
}

/** A request to Prometheus or Alertmanager failed. */
export class AlertingError extends GalleyError {}

/** `name=value` / `name=~re` / `name!=value` / `name!~re`, as Alertmanager and PromQL write them. */
export function formatMatcher(m: Matcher): string {
  const op = m.isEqual === false ? (m.isRegex ? '!~' : '!=') : m.isRegex ? '=~' : '=';
  return `${m.name}${op}${JSON.stringify(m.value)}`;
}

/** Parses `name=value`, `name=~regex`, `name!=value`, `name!~regex` (value optionally double-quoted). */
export function parseMatcher(text: string): Matcher {
  const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/.exec(text);
  if (!m)
    throw new AlertingError(
      `"${text}" is not a matcher such as alertname=EtcdReplicationDown or host=~"conf1.*"`,
    );
  const raw = m[3]!;
  const value =
    raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? (JSON.parse(raw) as string) : raw;
  return { name: m[1]!, value, isRegex: m[2]!.includes('~'), isEqual: !m[2]!.startsWith('!') };
}

/** A PromQL label selector for matchers: `{alertname=~"EtcdReplication.*",datacenter="eqiad"}`. */
export function promSelector(matchers: Matcher[]): string {
  return `{${matchers.map(formatMatcher).join(',')}}`;
}

/** Whether a label set satisfies every matcher (regexes are anchored, as in Prometheus). */
export function matchesAll(labels: Record<string, string>, matchers: Matcher[]): boolean {
  return matchers.every((m) => {
    const v = labels[m.name] ?? '';
    const hit = m.isRegex ? new RegExp(`^(?:${m.value})$`).test(v) : v === m.value;
    return m.isEqual === false ? !hit : hit;
  });
}

/** Whether two matcher lists are the same set. */
export function sameMatchers(a: Matcher[], b: Matcher[]): boolean {
  const key = (m: Matcher) => `${m.name}\u0000${m.value}\u0000${m.isRegex}\u0000${m.isEqual !== false}`;
  const sa = new Set(a.map(key));
  return a.length === b.length && b.every((m) => sa.has(key(m)));
}

type FetchLike = typeof fetch;

async function request(
  server: string,
  url: string,
  init: RequestInit & { timeoutMs: number; fetchImpl?: FetchLike },
): Promise<unknown> {
  const doFetch = init.fetchImpl ?? fetch;
  let res: Response;
  try {
    res = await doFetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs) });
  } catch (e) {
    const why =
      (e as Error).name === 'TimeoutError'
        ? `no answer within ${init.timeoutMs} ms`
        : ((e as { cause?: Error }).cause?.message ?? (e as Error).message);
    throw new AlertingError(`${server} at ${url}: ${why}`, {
      suggestions: [`check that ${server} runs and that alerting.* in the environment file points at it`],
      cause: e,
    });
  }
  const text = await res.text();
  if (!res.ok)
    throw new AlertingError(
      `${server} answered ${res.status} to ${init.method ?? 'GET'} ${url}: ${text.trim().slice(0, 300)}`,
    );
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AlertingError(
      `${server} answered ${url} with something that is not JSON: ${text.slice(0, 200)}`,
    );
  }
}

/** Alertmanager API v2. */
export class AlertmanagerClient {
  constructor(
    readonly url: string,
    readonly timeoutMs = 5000,
    private readonly fetchImpl?: FetchLike,
  ) {}

  #get(path: string): Promise<unknown> {
    return request('Alertmanager', `${this.url}${path}`, {
      timeoutMs: this.timeoutMs,
      fetchImpl: this.fetchImpl,
    });
  }

  /** Creates a silence; returns its id. */
  async createSilence(s: NewSilence): Promise<string> {
    const body = {
      matchers: s.matchers.map((m) => ({
        name: m.name,
        value: m.value,
        isRegex: m.isRegex,
        isEqual: m.isEqual !== false,
      })),
      startsAt: s.startsAt.toISOString(),
      endsAt: s.endsAt.toISOString(),
      createdBy: s.createdBy,
      comment: s.comment,
    };
    const r = (await request('Alertmanager', `${this.url}/api/v2/silences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      timeoutMs: this.timeoutMs,
      fetchImpl: this.fetchImpl,
    })) as { silenceID?: string };
    if (!r?.silenceID) throw new AlertingError('Alertmanager created a silence but did not say its id');
    return r.silenceID;
  }

  async getSilence(id: string): Promise<Silence> {
    return toSilence(await this.#get(`/api/v2/silence/${encodeURIComponent(id)}`));
  }

  /** Every silence Alertmanager keeps (active, pending and recently expired). */
  async listSilences(): Promise<Silence[]> {
    const r = await this.#get('/api/v2/silences');
    return Array.isArray(r) ? r.map(toSilence) : [];
  }

  /** Expires a silence (Alertmanager keeps it, expired, for its retention). */
  async expireSilence(id: string): Promise<void> {
    await request('Alertmanager', `${this.url}/api/v2/silence/${encodeURIComponent(id)}`, {
      method: 'DELETE',
      timeoutMs: this.timeoutMs,
      fetchImpl: this.fetchImpl,
    });
  }

  /** Alerts Alertmanager holds that match (server-side filter), silenced ones included. */
  async listAlerts(matchers: Matcher[] = []): Promise<Alert[]> {
    const q = matchers
      .map(
        (m) =>
          `filter=${encodeURIComponent(`${m.name}${m.isEqual === false ? '!' : '='}${m.isRegex ? '~' : ''}${JSON.stringify(m.value)}`)}`,
      )
      .join('&');
    const r = await this.#get(`/api/v2/alerts${q ? `?${q}` : ''}`);
    if (!Array.isArray(r)) return [];
    return r.map(
      (a: { labels?: Record<string, string>; status?: { state?: string; silencedBy?: string[] } }) => ({
        labels: a.labels ?? {},
        state: a.status?.state ?? 'unknown',
        silencedBy: a.status?.silencedBy ?? [],
      }),
    );
  }
}

function toSilence(raw: unknown): Silence {
  const s = raw as Partial<Silence> & { status?: { state?: SilenceState }; matchers?: Matcher[] };
  if (!s || typeof s.id !== 'string')
    throw new AlertingError(
      `Alertmanager returned something that is not a silence: ${JSON.stringify(raw).slice(0, 200)}`,
    );
  return {
    id: s.id,
    matchers: (s.matchers ?? []).map((m) => ({
      name: m.name,
      value: m.value,
      isRegex: m.isRegex,
      isEqual: m.isEqual !== false,
    })),
    startsAt: s.startsAt ?? '',
    endsAt: s.endsAt ?? '',
    createdBy: s.createdBy ?? '',
    comment: s.comment ?? '',
    state: s.status?.state ?? 'expired',
  };
}

/** Prometheus' HTTP query API. */
export class PrometheusClient {
  constructor(
    readonly url: string,
    readonly timeoutMs = 5000,
    private readonly fetchImpl?: FetchLike,
  ) {}

  /** An instant query; returns the vector's label sets and values. */
  async query(expr: string): Promise<{ labels: Record<string, string>; value: number }[]> {
    const r = (await request('Prometheus', `${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`, {
      timeoutMs: this.timeoutMs,
      fetchImpl: this.fetchImpl,
    })) as {
      status?: string;
      error?: string;
      data?: { resultType?: string; result?: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (r?.status !== 'success')
      throw new AlertingError(`Prometheus refused the query ${expr}: ${r?.error ?? 'no reason given'}`);
    if (r.data?.resultType !== 'vector')
      throw new AlertingError(`Prometheus answered ${expr} with a ${r.data?.resultType}, not a vector`);
    return (r.data.result ?? []).map((x) => ({ labels: x.metric, value: Number(x.value[1]) }));
  }

  /** Alerts that fire now (Prometheus' ALERTS series) and match every matcher. */
  async firingAlerts(matchers: Matcher[]): Promise<Alert[]> {
    const rows = await this.query(
      `ALERTS${promSelector([{ name: 'alertstate', value: 'firing', isRegex: false }, ...matchers])}`,
    );
    return rows.map((r) => ({ labels: r.labels, state: 'firing' }));
  }
}

/** How an alert is shown: `EtcdReplicationDown{datacenter="eqiad",host="conf1007.eqiad.wmnet"}`. */
export function describeAlert(a: Alert): string {
  const { alertname, alertstate: _state, __name__: _n, ...rest } = a.labels;
  const labels = Object.entries(rest)
    .filter(([k]) => ['datacenter', 'host', 'instance', 'cluster'].includes(k))
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  return `${alertname ?? '(no alertname)'}${labels ? `{${labels}}` : ''}`;
}
