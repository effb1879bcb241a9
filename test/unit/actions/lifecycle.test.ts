import { describe, expect, test } from '@jest/globals';
import { backupName, backupsToPrune, keyDigest, type BackupEntry } from '../../../src/actions/backup.js';
import { initialClusterOf, settingOf, withSettings } from '../../../src/actions/cluster.js';
import type { EtcdNode } from '../../../src/etcd/index.js';

const entry = (name: string, verified: boolean): BackupEntry => ({
  host: 'conf1007.eqiad.wmnet',
  path: `/srv/backup/etcd/eqiad/${name}`,
  name,
  verified: verified
    ? { verifiedAt: '', keys: 1, digest: 'd', host: 'conf1007.eqiad.wmnet', cluster: 'eqiad' }
    : undefined,
});

describe('backups kept and pruned', () => {
  test('the newest N verified backups stay; older verified ones and failed attempts before the newest good one go', () => {
    const all = [
      entry('20261101-020000', true),
      entry('20261102-020000', false),
      entry('20261103-020000', true),
      entry('20261104-020000', true),
      entry('20261105-020000', false),
    ];
    expect(backupsToPrune(all, 2).map((b) => b.name)).toEqual(['20261101-020000', '20261102-020000']);
  });

  test('an unverified backup newer than every verified one is kept (it may be in progress), and with N at least the count nothing goes', () => {
    const all = [entry('20261101-020000', true), entry('20261102-020000', false)];
    expect(backupsToPrune(all, 1)).toEqual([]);
    expect(backupsToPrune([entry('20261101-020000', true), entry('20261103-020000', true)], 5)).toEqual([]);
  });

  test('dated directory names sort by time (UTC)', () => {
    expect(backupName(new Date('2026-12-01T02:03:04.567Z'))).toBe('20261201-020304');
  });
});

describe('the key digest of a backup or a cluster', () => {
  const node = (key: string, value: string, extra: Partial<EtcdNode> = {}): EtcdNode => ({
    key,
    value,
    createdIndex: 1,
    modifiedIndex: 1,
    ...extra,
  });
  test('the same keys and values give the same digest whatever their order and indexes; a changed value changes it', () => {
    const a: EtcdNode = {
      key: '/',
      dir: true,
      createdIndex: 0,
      modifiedIndex: 0,
      nodes: [
        node('/a', '1'),
        { key: '/d', dir: true, createdIndex: 2, modifiedIndex: 2, nodes: [node('/d/b', '2')] },
      ],
    };
    const b: EtcdNode = {
      key: '/',
      dir: true,
      createdIndex: 0,
      modifiedIndex: 0,
      nodes: [
        {
          key: '/d',
          dir: true,
          createdIndex: 9,
          modifiedIndex: 9,
          nodes: [node('/d/b', '2', { modifiedIndex: 77 })],
        },
        node('/a', '1', { createdIndex: 5 }),
      ],
    };
    expect(keyDigest(a)).toEqual(keyDigest(b));
    expect(keyDigest(a).keys).toBe(2);
    const c: EtcdNode = { ...a, nodes: [node('/a', '1!'), a.nodes![1]!] };
    expect(keyDigest(c).digest).not.toBe(keyDigest(a).digest);
  });

  test("a digest can leave out Galley's bookkeeping (run journals, locks), which runs write themselves", () => {
    const dir = (key: string, nodes: EtcdNode[]): EtcdNode => ({
      key,
      dir: true,
      createdIndex: 0,
      modifiedIndex: 0,
      nodes,
    });
    const data = node('/conftool/v1/x', '1');
    const plain = dir('/', [dir('/conftool', [data])]);
    const journaled = dir('/', [
      dir('/conftool', [data]),
      dir('/galley', [dir('/galley/runs', [node('/galley/runs/journal/r/00000001', '{}')])]),
    ]);
    expect(keyDigest(journaled).digest).not.toEqual(keyDigest(plain).digest);
    expect(keyDigest(journaled, ['/galley/runs'])).toEqual(keyDigest(plain, ['/galley/runs']));
    // A prefix is a whole path part: /galley/runsX is data.
    expect(keyDigest(node('/galley/runsX', '1'), ['/galley/runs']).keys).toBe(1);
  });

  test('keys with a TTL are left out (they may expire between the backup and its restore)', () => {
    const a: EtcdNode = { key: '/', dir: true, createdIndex: 0, modifiedIndex: 0, nodes: [node('/a', '1')] };
    const withLock: EtcdNode = {
      ...a,
      nodes: [node('/a', '1'), node('/lock', 'x', { ttl: 30, expiration: '2026-12-01T00:00:00Z' })],
    };
    expect(keyDigest(withLock)).toEqual(keyDigest(a));
  });
});

describe("a member's etcd settings", () => {
  const file =
    'ETCD_NAME="conf1007.eqiad.wmnet"\nETCD_INITIAL_CLUSTER="a=http://1:2380,b=http://2:2380"\nETCD_INITIAL_CLUSTER_STATE="new"\n';

  test('only the keys given change; a new key is added before the final newline; undefined removes the line', () => {
    const out = withSettings(file, {
      ETCD_INITIAL_CLUSTER_STATE: 'existing',
      ETCD_FORCE_NEW_CLUSTER: 'true',
    });
    expect(out).toBe(
      'ETCD_NAME="conf1007.eqiad.wmnet"\nETCD_INITIAL_CLUSTER="a=http://1:2380,b=http://2:2380"\nETCD_INITIAL_CLUSTER_STATE="existing"\nETCD_FORCE_NEW_CLUSTER="true"\n',
    );
    expect(
      withSettings(out, { ETCD_FORCE_NEW_CLUSTER: undefined, ETCD_INITIAL_CLUSTER_STATE: 'existing' }),
    ).toBe(withSettings(file, { ETCD_INITIAL_CLUSTER_STATE: 'existing' }));
    expect(settingOf(out, 'ETCD_INITIAL_CLUSTER_STATE')).toBe('existing');
    expect(settingOf(out, 'ETCD_DATA_DIR')).toBeUndefined();
  });

  test('ETCD_INITIAL_CLUSTER lists the members by name with their peer URLs', () => {
    expect(
      initialClusterOf([
        { name: 'kubetcd1005', peerUrl: 'http://10.0.0.5:2380' },
        { name: 'kubetcd1004', peerUrl: 'http://10.0.0.4:2380' },
      ]),
    ).toBe('kubetcd1004=http://10.0.0.4:2380,kubetcd1005=http://10.0.0.5:2380');
  });
});
