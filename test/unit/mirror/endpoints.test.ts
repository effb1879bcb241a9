import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { ConfigError } from '../../../src/core/errors.js';
import { EtcdClient } from '../../../src/etcd/client.js';
import { EtcdAllEndpointsFailedError } from '../../../src/etcd/errors.js';
import { etcdClientForUrl } from '../../../src/etcd/factory.js';
import { EtcdTransport, type EtcdTransportOptions } from '../../../src/etcd/http.js';
import { parseMirrorArgs } from '../../../src/mirror/options.js';

let server: http.Server;
let live: string;
let dead: string;
/** The requests the live member answered: method, path, Authorization header. */
const seen: { method: string; url: string; authorization: string | undefined }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    req.resume();
    req.on('end', () =>
      res
        .writeHead(req.method === 'PUT' ? 201 : 200, {
          'x-etcd-index': '7',
          'content-type': 'application/json',
        })
        .end(
          JSON.stringify({
            action: req.method === 'PUT' ? 'set' : 'get',
            node: { key: '/x', value: 'v', modifiedIndex: 7, createdIndex: 7 },
          }),
        ),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  live = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A port nobody listens on: a member that is down.
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  dead = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise<void>((r) => probe.close(() => r()));
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('etcdmirror with several members of a cluster (one EtcdClient over src/etcd)', () => {
  test('a read and a write to a member that is down go to the next member, which then stays preferred', async () => {
    const c = etcdClientForUrl(`${dead},${live}`, { timeoutMs: 2000 });
    expect(c.endpoints).toEqual([dead, live]);
    const got = await c.get('/x');
    expect(got).toMatchObject({ etcdIndex: 7, endpoint: live, node: { value: 'v' } });
    seen.length = 0;
    await c.write({ method: 'PUT', key: '/x', params: { value: 'w', prevValue: 'v' } });
    expect(seen).toEqual([{ method: 'PUT', url: '/v2/keys/x', authorization: undefined }]);
    c.close();
  });

  test('one request without any retry (the start-up read of the index) to a member that is down goes to the next at once', async () => {
    const c = etcdClientForUrl(`${dead},${live}`, { timeoutMs: 2000 });
    seen.length = 0;
    // dst.get is what readRecordedIndex sends first: it must not need a retry to reach a live member
    const got = await c.get('/__replication/__ROOT__');
    expect(got).toMatchObject({ etcdIndex: 7, endpoint: live });
    expect(seen).toEqual([
      { method: 'GET', url: '/v2/keys/__replication/__ROOT__', authorization: undefined },
    ]);
    c.close();
  });

  test('a long-poll of the watch (what the source feed opens) to a member that is down goes to the next at once', async () => {
    const c = etcdClientForUrl(`${dead},${live}`, { timeoutMs: 2000 });
    const ev = await c.watch('/x', { recursive: true, waitIndex: 7 });
    expect(ev).toMatchObject({ endpoint: live, node: { value: 'v' } });
    c.close();
  });

  test.each(['EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'])(
    'a member without a route (%s: the request never left) is skipped the same way',
    async (code) => {
      const deadPort = Number(new URL(dead).port);
      /** Connections to the dead member fail as the kernel fails them when there is no route. */
      class NoRoute extends http.Agent {
        override createConnection(
          options: net.NetConnectOpts,
          callback?: (err: Error | null, s: Duplex) => void,
        ): Duplex | null | undefined {
          if ((options as net.TcpNetConnectOpts).port !== deadPort)
            return super.createConnection(options, callback);
          const s = new net.Socket();
          const err = Object.assign(new Error(`connect ${code} ${dead}`), { code, syscall: 'connect' });
          process.nextTick(() => s.destroy(err));
          return s;
        }
      }
      const agents = { http: new NoRoute({ keepAlive: true }), https: new https.Agent() };
      const options: EtcdTransportOptions = { endpoints: [{ url: dead }, { url: live }], timeoutMs: 2000 };
      const c = new EtcdClient(options, new EtcdTransport(options, agents));
      try {
        expect(await c.get('/x')).toMatchObject({ etcdIndex: 7, endpoint: live });
      } finally {
        agents.http.destroy();
        agents.https.destroy();
      }
    },
  );

  test('with every member down, one request fails once each was tried, naming each', async () => {
    const c = etcdClientForUrl(`${dead},${dead}`, { timeoutMs: 2000 });
    const failure = c.get('/x');
    await expect(failure).rejects.toBeInstanceOf(EtcdAllEndpointsFailedError);
    await expect(failure).rejects.toThrow(/connection refused.*connection refused/);
    const err = (await failure.catch((e: unknown) => e)) as EtcdAllEndpointsFailedError;
    expect(err.failures.map((f) => f.endpoint)).toEqual(c.endpoints);
    c.close();
  });

  test('every member is reached as the one user given, and its password is kept out of the endpoints', async () => {
    const c = etcdClientForUrl(`${dead.replace('//', '//root:s3cret@')},${live}`, { timeoutMs: 2000 });
    expect(c.endpoints).toEqual([dead, live]);
    seen.length = 0;
    await c.get('/x');
    expect(seen[0]!.authorization).toBe(`Basic ${Buffer.from('root:s3cret').toString('base64')}`);
    c.close();
  });

  test('members naming different users, a user without a password, or a bad URL are refused with a clear error', () => {
    expect(() =>
      etcdClientForUrl(`${live.replace('//', '//a:x@')},${dead.replace('//', '//b:y@')}`, { timeoutMs: 1 }),
    ).toThrow(/name different users/);
    expect(() => etcdClientForUrl(live.replace('//', '//root@'), { timeoutMs: 1 })).toThrow(
      /a user is given but no password/,
    );
    expect(() => etcdClientForUrl(`${live},nonsense`, { timeoutMs: 1 })).toThrow(ConfigError);
  });

  test('SRC_URL and DST_URL take comma-separated members, each checked', () => {
    expect(parseMirrorArgs([`${dead},${live}`, live]).srcUrl).toBe(`${dead},${live}`);
    expect(() => parseMirrorArgs([`${live},nonsense`, live])).toThrow('not a URL: nonsense');
  });
});
