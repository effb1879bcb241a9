import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../../../src/core/errors.js';
import { etcdClientForUrl } from '../../../src/etcd/factory.js';
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
