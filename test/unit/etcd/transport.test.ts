import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../../../src/core/errors.js';
import { Secret } from '../../../src/core/secrets.js';
import { EtcdClient } from '../../../src/etcd/client.js';
import {
  EtcdAllEndpointsFailedError,
  EtcdKeyNotFoundError,
  EtcdUnreachableError,
} from '../../../src/etcd/errors.js';

/**
 * The transport's own logic (fail-over, timeouts, headers) against a small local HTTP server
 * that answers like etcd; the integration tests do the same against real etcd.
 */
let server: http.Server;
let base: string;
const seen: Array<{ url: string; auth?: string; host?: string }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', auth: req.headers.authorization, host: req.headers.host });
    if (req.url?.startsWith('/v2/keys/slow')) return; // never answers
    if (req.url?.startsWith('/v2/keys/exists')) {
      res.writeHead(412, { 'Content-Type': 'application/json', 'X-Etcd-Index': '9' });
      res.end('{"errorCode":105,"message":"Key already exists","cause":"/exists","index":9}');
      return;
    }
    if (req.url?.startsWith('/v2/keys/missing')) {
      res.writeHead(404, { 'Content-Type': 'application/json', 'X-Etcd-Index': '9' });
      res.end('{"errorCode":100,"message":"Key not found","cause":"/missing","index":9}');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'X-Etcd-Index': '9' });
    res.end('{"action":"get","node":{"key":"/a","value":"1","modifiedIndex":3,"createdIndex":3}}');
  });
  await new Promise<void>((r) => server.listen(0, '127.32.250.1', r));
  base = `http://127.32.250.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('EtcdClient transport', () => {
  test('a refused connection fails over to the next endpoint, which is then tried first', async () => {
    const c = new EtcdClient({
      endpoints: [{ url: 'http://127.32.250.2:9' }, { url: base }],
      timeoutMs: 2000,
    });
    const r = await c.get('/a');
    expect(r).toMatchObject({ endpoint: base, etcdIndex: 9, node: { value: '1' } });
    seen.length = 0;
    await c.get('/a');
    expect(seen).toHaveLength(1);
    c.close();
  });

  test('an etcd error is not failed over: the first endpoint that answers decides', async () => {
    const c = new EtcdClient({
      endpoints: [{ url: base }, { url: 'http://127.32.250.2:9' }],
      timeoutMs: 2000,
    });
    await expect(c.get('/missing')).rejects.toBeInstanceOf(EtcdKeyNotFoundError);
    c.close();
  });

  test('a request without an answer in time fails over, and when all fail every endpoint is named', async () => {
    const c = new EtcdClient({
      endpoints: [{ url: base }, { url: 'http://127.32.250.2:9' }],
      timeoutMs: 300,
    });
    const e = await c.get('/slow').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EtcdAllEndpointsFailedError);
    const failures = (e as EtcdAllEndpointsFailedError).failures;
    expect(failures.map((f) => f.reason)).toEqual(['timeout', 'refused']);
    expect((e as Error).message).toContain(`${base} for GET /v2/keys/slow: no answer within 300 ms`);
    expect((e as Error).message).toContain('http://127.32.250.2:9 for GET /v2/keys/slow: connection refused');
    c.close();
  });

  test('a write refused after an earlier endpoint timed out says the first attempt may have been applied', async () => {
    const silent = http.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.32.250.3', r));
    const silentUrl = `http://127.32.250.3:${(silent.address() as AddressInfo).port}`;
    const c = new EtcdClient({ endpoints: [{ url: silentUrl }, { url: base }], timeoutMs: 300 });
    const e = await c.create('/exists', 'v').catch((x: unknown) => x);
    expect(e).toMatchObject({ errorCode: 105 });
    expect((e as { suggestions: string[] }).suggestions[0]).toBe(
      `this request first timed out on ${silentUrl} and may have been applied there: read the key before retrying`,
    );
    c.close();
    silent.closeAllConnections();
    await new Promise((r) => silent.close(r));
  });

  test('a password that cannot be read is a config error naming where it should come from, and nothing is sent', async () => {
    delete process.env.GALLEY_UNIT_ETCD_PW_UNSET;
    const c = new EtcdClient({
      endpoints: [{ url: base }],
      credentials: { username: 'root', password: new Secret({ env: 'GALLEY_UNIT_ETCD_PW_UNSET' }) },
      timeoutMs: 2000,
    });
    seen.length = 0;
    const e = await c.get('/a').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toBe(
      'cannot use the etcd password of user "root": secret environment variable GALLEY_UNIT_ETCD_PW_UNSET is not set: export it or use a file',
    );
    expect(seen).toHaveLength(0);
    c.close();
  });

  test('with one endpoint, its own failure is thrown', async () => {
    const c = new EtcdClient({ endpoints: [{ url: 'http://127.32.250.2:9' }], timeoutMs: 300 });
    await expect(c.get('/a')).rejects.toBeInstanceOf(EtcdUnreachableError);
    c.close();
  });

  test('credentials go in a basic-auth header, and the Host header names the member', async () => {
    process.env.GALLEY_UNIT_ETCD_PW = 's3cret-pw';
    const c = new EtcdClient({
      endpoints: [{ url: base, hostName: 'conf1001.eqiad.wmnet' }],
      credentials: { username: 'root', password: new Secret({ env: 'GALLEY_UNIT_ETCD_PW' }) },
      timeoutMs: 2000,
    });
    seen.length = 0;
    await c.get('/a');
    expect(seen[0]?.auth).toBe(`Basic ${Buffer.from('root:s3cret-pw').toString('base64')}`);
    expect(seen[0]?.host).toBe(`conf1001.eqiad.wmnet:${new URL(base).port}`);
    const e = await c.get('/missing').catch((x: unknown) => x);
    expect(JSON.stringify(e) + String(e)).not.toContain('s3cret-pw');
    c.close();
  });
});
