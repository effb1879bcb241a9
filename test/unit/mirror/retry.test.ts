import { describe, expect, test } from '@jest/globals';
import {
  EtcdClient,
  EtcdCompareFailedError,
  EtcdUnreachableError,
  retryTransient,
} from '../../../src/etcd/index.js';
import { EtcdTransport, type EtcdHttpRequest, type EtcdHttpResponse } from '../../../src/etcd/http.js';

const URL = 'http://scripted.invalid:2379';

/** A transport that plays a script of outcomes, one per request, under the real client. */
class Scripted extends EtcdTransport {
  calls = 0;
  readonly client = new EtcdClient({ endpoints: [{ url: URL }], timeoutMs: 0 }, this);

  constructor(readonly outcomes: (EtcdHttpResponse | Error)[]) {
    super({ endpoints: [{ url: URL }], timeoutMs: 0 });
  }

  override async request(_req: EtcdHttpRequest): Promise<EtcdHttpResponse> {
    const next = this.outcomes[Math.min(this.calls++, this.outcomes.length - 1)]!;
    if (next instanceof Error) throw next;
    return next;
  }
}

const reply = (status: number, body: unknown): EtcdHttpResponse => ({
  status,
  headers: {},
  body: typeof body === 'string' ? body : JSON.stringify(body),
  endpoint: URL,
  etcdIndex: 1,
});
const ok = reply(200, { action: 'set', node: { key: '/a', value: 'v', modifiedIndex: 2, createdIndex: 2 } });
const refused = () =>
  new EtcdUnreachableError({ endpoint: URL, method: 'PUT', path: '/v2/keys/a' }, 'refused', 'ECONNREFUSED');
const write = (t: Scripted) => () => t.client.write({ method: 'PUT', key: '/a', params: { value: 'v' } });

describe('the mirror retries a request while its cluster is unavailable (retryTransient)', () => {
  test('an unreachable cluster or a server error is retried until it answers', async () => {
    const t = new Scripted([refused(), reply(503, 'Service Unavailable'), ok]);
    await expect(retryTransient('PUT /a', write(t), { retryForMs: 5_000 })).resolves.toBeUndefined();
    expect(t.calls).toBe(3);
  });

  test('an etcd error is returned at once, not retried', async () => {
    const t = new Scripted([
      reply(412, { errorCode: 101, message: 'Compare failed', cause: '[x != y]' }),
      ok,
    ]);
    await expect(retryTransient('PUT /a', write(t))).rejects.toBeInstanceOf(EtcdCompareFailedError);
    expect(t.calls).toBe(1);
  });

  test('it gives up with the last failure once the retry time is spent', async () => {
    const t = new Scripted([refused()]);
    await expect(retryTransient('GET /a', write(t), { retryForMs: 200 })).rejects.toThrow(
      'connection refused',
    );
    expect(t.calls).toBeGreaterThan(1);
  });

  test('an abort signal ends the retries at once', async () => {
    const t = new Scripted([refused()]);
    const ac = new AbortController();
    const pending = retryTransient('PUT /a', write(t), { retryForMs: 60_000, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await expect(pending).rejects.toThrow(/interrupted/);
    expect(t.calls).toBeGreaterThan(1);
  });
});
