import { describe, expect, test } from '@jest/globals';
import { ClusterError } from '../../../src/mirror/errors.js';
import type { EtcdReply } from '../../../src/mirror/etcd-http.js';
import { type EtcdRequester, requestRetrying } from '../../../src/mirror/retry.js';

/** A client that plays a script of outcomes, one per request. */
function scripted(outcomes: (EtcdReply | Error)[]): EtcdRequester & { calls: number } {
  const client = {
    display: 'scripted',
    calls: 0,
    request: async (): Promise<EtcdReply> => {
      const next = outcomes[Math.min(client.calls++, outcomes.length - 1)]!;
      if (next instanceof Error) throw next;
      return next;
    },
  };
  return client;
}

const ok: EtcdReply = { status: 200, etcdIndex: 1, body: undefined };

describe('requestRetrying', () => {
  test('an unreachable cluster or a server error is retried until it answers', async () => {
    const client = scripted([
      new ClusterError('connection refused'),
      { status: 503, etcdIndex: undefined, body: '' },
      ok,
    ]);
    expect(await requestRetrying(client, 'PUT', '/v2/keys/a', {}, false, 5_000)).toBe(ok);
    expect(client.calls).toBe(3);
  });

  test('an etcd error is returned at once, not retried', async () => {
    const refused: EtcdReply = {
      status: 412,
      etcdIndex: 1,
      body: { errorCode: 101, message: 'Compare failed' },
    };
    const client = scripted([refused, ok]);
    expect(await requestRetrying(client, 'PUT', '/v2/keys/a')).toBe(refused);
    expect(client.calls).toBe(1);
  });

  test('it gives up with the last failure once the retry time is spent', async () => {
    const client = scripted([new ClusterError('connection refused')]);
    await expect(requestRetrying(client, 'GET', '/v2/keys/a', {}, true, 200)).rejects.toThrow(
      'connection refused',
    );
    expect(client.calls).toBeGreaterThan(1);
  });
});
