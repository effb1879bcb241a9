import { describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { parseConfig } from '../../../src/config/schema.js';
import { LockHeldError } from '../../../src/core/errors.js';
import { describeHolder, InMemoryLockManager, ownerIsDead } from '../../../src/core/lock.js';
import { MultiClusterLockManager, runLockManager } from '../../../src/etcd/lock.js';

const request = (runId: string) => ({
  name: 'etcd.conftool-master',
  owner: `u@h [${runId}]`,
  runId,
  ttlMs: 60_000,
});

describe('one lock across both clusters', () => {
  test('a second run is refused whichever cluster its holder took first, and a refused run gives back what it took', async () => {
    const eqiad = new InMemoryLockManager();
    const codfw = new InMemoryLockManager();
    const both = new MultiClusterLockManager([
      { cluster: 'codfw', manager: codfw },
      { cluster: 'eqiad', manager: eqiad },
    ]);
    // Someone holds it in eqiad only (the second cluster of the order): a run takes codfw, is refused by eqiad, and releases codfw.
    const stray = await eqiad.acquire(request('stray'));
    await expect(both.acquire(request('b'))).rejects.toBeInstanceOf(LockHeldError);
    expect(codfw.holders('etcd.conftool-master')).toEqual([]);
    await stray.release();
    const first = await both.acquire(request('a'));
    await expect(both.acquire(request('b'))).rejects.toThrow(/held by u@h \[a\]/);
    expect(
      Object.values(await both.holders('etcd.conftool-master')).map((h) => h.map((x) => x.runId)),
    ).toEqual([['a'], ['a']]);
    await first.release();
    expect(Object.values(await both.holders('etcd.conftool-master'))).toEqual([[], []]);
  });

  test('runLockManager refuses a lock prefix that replication would copy', () => {
    const raw = parse(`
name: t
datacenters: [eqiad, codfw]
hosts:
  a.eqiad: {address: 127.0.1.7, datacenter: eqiad}
  b.codfw: {address: 127.0.2.4, datacenter: codfw}
ssh: {known_hosts: /kh}
etcd:
  lock_prefix: /galley/locks
  clusters:
    eqiad: {members: [a.eqiad], srv_record: _etcd._tcp.eqiad}
    codfw: {members: [b.codfw], srv_record: _etcd._tcp.codfw}
replication:
  master: codfw
  ignore_keys_regex: ^/spicerack/locks/etcd
  rw_srv_record: _c._tcp.conftool
  mirrors: {}
`);
    const { config } = parseConfig(raw, '/x.yaml');
    const env = { service: <T>(_k: string, create: () => T) => create(), log: { warn: () => undefined } };
    expect(() => runLockManager(config!, env)).toThrow(
      'etcd.lock_prefix /galley/locks is not excluded from replication',
    );
    config!.replication!.ignoreKeysRegex = '^/(spicerack/locks/etcd|galley/locks)(/|$)';
    expect(runLockManager(config!, env).managers.map((m) => m.cluster)).toEqual(['codfw', 'eqiad']);
  });
});

describe('the holder of a lock, as a blocked run sees it', () => {
  test('says when the lock expires', () => {
    expect(
      describeHolder(
        {
          owner: 'bob@cumin1001 [12]',
          since: '2026-01-01T00:00:00.000Z',
          runId: 'r1',
          expires: '2026-01-01T00:02:00.000Z',
        },
        { host: 'cumin2002' },
      ),
    ).toBe(
      'bob@cumin1001 [12] since 2026-01-01T00:00:00.000Z (run r1); it expires at 2026-01-01T00:02:00.000Z unless refreshed',
    );
  });

  test('says its holder is dead when it is a PID of this host that is gone, and only then', () => {
    const h = { owner: 'bob@cumin1001 [12]', since: 's', runId: 'r1', expires: 'T' };
    expect(describeHolder(h, { host: 'cumin1001', isAlive: () => false })).toContain(
      'its holder is dead (no process 12 on this host): it frees itself at T',
    );
    expect(describeHolder(h, { host: 'cumin1001', isAlive: () => true })).not.toContain('dead');
    expect(describeHolder(h, { host: 'cumin2002', isAlive: () => false })).not.toContain('dead');
    expect(ownerIsDead(`me@${'x'} [${process.pid}]`, 'x')).toBe(false);
    expect(ownerIsDead('me@x [999999999]', 'x')).toBe(true);
  });
});
