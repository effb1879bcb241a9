import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GalleyConfig } from '../../../src/config/schema.js';
import { LockHeldError } from '../../../src/core/errors.js';
import { Secret } from '../../../src/core/secrets.js';
import type { EtcdClient } from '../../../src/etcd/client.js';
import {
  EtcdAuthError,
  EtcdKeyNotFoundError,
  EtcdReadOnlyError,
  EtcdTlsError,
} from '../../../src/etcd/errors.js';
import { etcdClientFor } from '../../../src/etcd/factory.js';
import { etcdLockManagerFor } from '../../../src/etcd/lock.js';
import { labConfig } from '../lab.js';
import { LabFaults } from '../../support/lab-faults.js';

/**
 * Through the lab's nginx proxies (TLS with the lab CA, basic auth, eqiad read-only as a
 * replica) and its members' local ports. Writes go to the master datacenter only, under a
 * test prefix, and are deleted afterwards.
 */
let config: GalleyConfig;
let master: string;
let replica: string;
const opened: EtcdClient[] = [];
const prefix = `/galley-test/etcd-${process.pid}`;
let scratch: string;

function client(cfg: GalleyConfig, cluster: string, via: 'proxy' | 'local'): EtcdClient {
  const c = etcdClientFor(cfg, cluster, { via });
  opened.push(c);
  return c;
}

beforeAll(() => {
  config = labConfig();
  master = config.replication?.master ?? 'codfw';
  replica = Object.keys(config.etcd.clusters).find((c) => c !== master) ?? 'eqiad';
  scratch = mkdtempSync(join(tmpdir(), 'galley-etcd-ca-'));
});

afterAll(async () => {
  await client(config, master, 'proxy')
    .delete(prefix, { recursive: true })
    .catch(() => undefined);
  for (const c of opened) c.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('etcd through the lab proxy (TLS + basic auth) and local ports', () => {
  test('a write through the master proxy is read back through a member local port, with the etcd index', async () => {
    const proxy = client(config, master, 'proxy');
    const w = await proxy.set(`${prefix}/k`, 'through nginx');
    expect(w.endpoint).toMatch(/^https:\/\/conf\d+\.\w+\.wmnet:\d+$/);
    expect(w.etcdIndex).toBe(w.node.modifiedIndex);
    const r = await client(config, master, 'local').get(`${prefix}/k`, { quorum: true });
    expect(r.node.value).toBe('through nginx');
    expect(r.endpoint).toMatch(/^http:\/\/conf\d+\.\w+\.wmnet:\d+$/);
  });

  test('compare-and-swap conflicts come back through the proxy as typed etcd errors', async () => {
    const proxy = client(config, master, 'proxy');
    await proxy.create(`${prefix}/cas`, 'a');
    await expect(proxy.create(`${prefix}/cas`, 'b')).rejects.toMatchObject({ errorCode: 105 });
    await expect(proxy.compareAndSwap(`${prefix}/cas`, 'c', { prevValue: 'b' })).rejects.toMatchObject({
      errorCode: 101,
    });
    await expect(proxy.get(`${prefix}/nope`)).rejects.toBeInstanceOf(EtcdKeyNotFoundError);
  });

  test('long-poll and stream watches work through the proxy', async () => {
    const proxy = client(config, master, 'proxy');
    const first = await proxy.set(`${prefix}/watch/a`, '1');
    expect(
      (await proxy.watch(`${prefix}/watch`, { recursive: true, waitIndex: first.node.modifiedIndex })).node
        .value,
    ).toBe('1');
    const got: string[] = [];
    const done = (async () => {
      for await (const ev of proxy.watchStream(`${prefix}/watch`, { recursive: true })) {
        got.push(ev.node.value ?? '');
        if (got.length === 3) break;
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    for (const v of ['x', 'y', 'z']) await proxy.set(`${prefix}/watch/b`, v);
    await done;
    expect(got).toEqual(['x', 'y', 'z']);
  });

  test('a stream watch through the proxies moves on when the etcd behind its proxy dies, and misses no write', async () => {
    // The watch starts on the first member's proxy; that member's etcd is killed (SIGKILL), so its
    // nginx answers 502. The watch must reconnect through another member's proxy and deliver
    // every acknowledged write. It used to retry the dead member's proxy until that came back.
    const proxy = client(config, master, 'proxy');
    const local = client(config, master, 'local');
    const first = config.etcd.clusters[master]!.members[0]!;
    const faults = new LabFaults(config);
    const seen = new Set<string>();
    const stop = new AbortController();
    const from = (await local.set(`${prefix}/killed/start`, 'x')).node.modifiedIndex + 1;
    const watching = (async () => {
      const options = { recursive: true, waitIndex: from, signal: stop.signal };
      for await (const ev of proxy.watchStream(`${prefix}/killed`, options))
        if (ev.node.key) seen.add(ev.node.key);
    })().catch(() => undefined);
    const acked: string[] = [];
    let n = 0;
    const write = async () => {
      const key = `${prefix}/killed/k${n++}`;
      await local.set(key, 'v').then(
        () => acked.push(key),
        () => undefined, // not acknowledged (an election): not counted
      );
    };
    try {
      for (let i = 0; i < 10; i++) await write();
      await faults.killEtcd(first);
      // Writes until 20 more are acknowledged (the survivors may first elect a leader, which
      // takes longer on a loaded machine), bounded.
      const until = Date.now() + 20_000;
      while (acked.length < 30 && Date.now() < until) {
        await write();
        await new Promise((r) => setTimeout(r, 30));
      }
      const deadline = Date.now() + 10_000;
      while (acked.some((k) => !seen.has(k)) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
    } finally {
      stop.abort();
      await watching;
      await faults.repair();
    }
    expect(acked.length).toBe(30);
    expect(acked.filter((k) => !seen.has(k))).toEqual([]);
  }, 60_000);

  test('members, leader stats and health are answered through the proxy', async () => {
    const proxy = client(config, master, 'proxy');
    const members = await proxy.members();
    expect(members.map((m) => m.name).sort()).toEqual(
      [...(config.etcd.clusters[master]?.members ?? [])].sort(),
    );
    const stats = await Promise.all(proxy.endpoints.map((_, i) => proxy.forEndpoint(i).leaderStats()));
    expect(stats.filter((s) => s.isLeader)).toHaveLength(1);
    expect((await proxy.health()).healthy).toBe(true);
  });

  test('a write through the replica proxy is refused as read-only (errorCode 107), reads still work', async () => {
    const proxy = client(config, replica, 'proxy');
    const e = await proxy.set(`${prefix}/ro`, 'x').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EtcdReadOnlyError);
    expect(e).toMatchObject({ errorCode: 107, httpStatus: 403 });
    expect((e as Error).message).toContain('read-only mode');
    await expect(proxy.get('/')).resolves.toMatchObject({ action: 'get' });
  });

  test('a wrong password is refused with HTTP 401, naming the user and never the password', async () => {
    process.env.GALLEY_TEST_WRONG_ETCD_PASSWORD = 'definitely-not-the-password';
    const wrong: GalleyConfig = {
      ...config,
      etcd: {
        ...config.etcd,
        credentials: { username: 'root', password: new Secret({ env: 'GALLEY_TEST_WRONG_ETCD_PASSWORD' }) },
      },
    };
    const e = await client(wrong, master, 'proxy')
      .get('/')
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EtcdAuthError);
    expect((e as Error).message).toContain('refused the credentials of user "root" (HTTP 401)');
    expect((e as Error).message).not.toContain('definitely-not-the-password');
  });

  test('without credentials the proxy answers 401 and the error says none are configured', async () => {
    const none: GalleyConfig = { ...config, etcd: { ...config.etcd, credentials: undefined } };
    await expect(client(none, master, 'proxy').get('/')).rejects.toThrow(/no credentials are configured/);
  });

  test('a CA that did not sign the proxy certificate fails the TLS handshake with a TLS error', async () => {
    const caFile = join(scratch, 'other-ca.crt');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(scratch, 'other-ca.key'),
        '-out',
        caFile,
        '-days',
        '1',
        '-subj',
        '/CN=Not the lab CA',
      ],
      { stdio: 'ignore' },
    );
    const otherCa: GalleyConfig = { ...config, etcd: { ...config.etcd, caFile } };
    const e = await client(otherCa, master, 'proxy')
      .get('/')
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EtcdTlsError);
    expect((e as Error).message).toMatch(/TLS handshake with https:\/\/conf\d+.*failed/);
    expect((e as EtcdTlsError).suggestions.join(' ')).toContain(caFile);
  });

  test('a certificate that does not name the host asked for fails the TLS handshake', async () => {
    const [first, second] = config.etcd.clusters[master]?.members ?? [];
    const swapped: GalleyConfig = {
      ...config,
      hosts: {
        ...config.hosts,
        [first!]: { ...config.hosts[first!]!, address: config.hosts[second!]!.address },
      },
    };
    const c = etcdClientFor(swapped, master, { via: 'proxy', members: [first!] });
    opened.push(c);
    await expect(c.get('/')).rejects.toMatchObject({
      name: 'EtcdTlsError',
      tlsCode: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
  });

  test('the etcd lock works through the proxy under the configured prefix', async () => {
    const locks = etcdLockManagerFor(config, { client: client(config, master, 'proxy') });
    const name = `galley-test-${process.pid}`;
    const held = await locks.acquire({ name, owner: 'alice@cumin1001 [1]', runId: 'lab-1' });
    const listing = await client(config, master, 'local').get(`${config.etcd.lockPrefix}/${name}`, {
      quorum: true,
    });
    expect(listing.node.nodes).toHaveLength(1);
    await expect(locks.acquire({ name, owner: 'bob@cumin2002 [2]', runId: 'lab-2' })).rejects.toBeInstanceOf(
      LockHeldError,
    );
    await held.release();
    const again = await locks.acquire({ name, owner: 'bob@cumin2002 [2]', runId: 'lab-2' });
    await again.release();
  });
});
