import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EtcdHttp, makeEndpoint } from '../../../src/mirror/etcd-http.js';
import { parseMirrorArgs } from '../../../src/mirror/options.js';
import { requestRetrying } from '../../../src/mirror/retry.js';

let server: http.Server;
let live: string;
let dead: string;

beforeAll(async () => {
  server = http.createServer((_req, res) =>
    res.writeHead(200, { 'x-etcd-index': '7', 'content-type': 'application/json' }).end('{"action":"get"}'),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  live = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A port nobody listens on: a member that is down.
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  dead = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise<void>((r) => probe.close(() => r()));
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('etcdmirror with several members of a cluster', () => {
  test('a request to a member that is down fails over to the next member on retry', async () => {
    const c = new EtcdHttp([makeEndpoint(dead), makeEndpoint(live)], 4);
    expect(c.display).toBe(dead);
    const reply = await requestRetrying(c, 'GET', '/v2/keys/x', undefined, true, 5000);
    expect(reply).toMatchObject({ status: 200, etcdIndex: 7 });
    expect(c.display).toBe(live);
    c.close();
  });

  test('one request (no retry: the start-up read of the index) to a member that is down goes to the next at once', async () => {
    const c = new EtcdHttp([makeEndpoint(dead), makeEndpoint(live)], 4);
    const reply = await c.request('GET', '/v2/keys/__replication/__ROOT__');
    expect(reply).toMatchObject({ status: 200, etcdIndex: 7 });
    expect(c.display).toBe(live);
    c.close();
  });

  test('with every member down, one request fails once each was tried, naming the last', async () => {
    const c = new EtcdHttp([makeEndpoint(dead), makeEndpoint(dead)], 4);
    await expect(c.request('GET', '/v2/keys/x')).rejects.toThrow(/ECONNREFUSED/);
    c.close();
  });

  test('SRC_URL and DST_URL take comma-separated members, each checked', () => {
    expect(parseMirrorArgs([`${dead},${live}`, live]).srcUrl).toBe(`${dead},${live}`);
    expect(() => parseMirrorArgs([`${live},nonsense`, live])).toThrow('not a URL: nonsense');
  });
});
