import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { EtcdClient } from '../../../src/etcd/client.js';
import {
  EtcdCompareFailedError,
  EtcdDirNotEmptyError,
  EtcdKeyNotFoundError,
  EtcdNodeExistsError,
  EtcdNotAFileError,
} from '../../../src/etcd/errors.js';
import { LocalEtcdCluster } from './local-cluster.js';

let cluster: LocalEtcdCluster;
let etcd: EtcdClient;

beforeAll(async () => {
  cluster = new LocalEtcdCluster(201, 3);
  await cluster.start();
  etcd = new EtcdClient({ endpoints: cluster.clientUrls.map((url) => ({ url })), timeoutMs: 5000 });
}, 60_000);

afterAll(async () => {
  etcd?.close();
  await cluster?.destroy();
});

describe('etcd v2 keys against a real 3-member cluster', () => {
  test('a set answers with the node and an X-Etcd-Index equal to its modifiedIndex', async () => {
    const r = await etcd.set('/keys/plain', 'v1');
    expect(r.action).toBe('set');
    expect(r.node).toMatchObject({ key: '/keys/plain', value: 'v1' });
    expect(r.etcdIndex).toBe(r.node.modifiedIndex);
    const g = await etcd.get('/keys/plain', { quorum: true });
    expect(g.node.value).toBe('v1');
    expect(g.etcdIndex).toBeGreaterThanOrEqual(r.node.modifiedIndex);
  });

  test('a recursive sorted get returns the whole tree in key order', async () => {
    await etcd.set('/tree/b/y', '2');
    await etcd.set('/tree/a', '1');
    await etcd.set('/tree/b/x', '3');
    const g = await etcd.get('/tree', { recursive: true, sorted: true });
    expect(g.node.dir).toBe(true);
    expect(g.node.nodes?.map((n) => n.key)).toEqual(['/tree/a', '/tree/b']);
    expect(g.node.nodes?.[1]?.nodes?.map((n) => [n.key, n.value])).toEqual([
      ['/tree/b/x', '3'],
      ['/tree/b/y', '2'],
    ]);
  });

  test('create refuses an existing key with EtcdNodeExistsError and leaves its value alone', async () => {
    await etcd.create('/keys/created', 'first');
    await expect(etcd.create('/keys/created', 'second')).rejects.toBeInstanceOf(EtcdNodeExistsError);
    expect((await etcd.get('/keys/created')).node.value).toBe('first');
  });

  test('compare-and-swap on the value succeeds when it matches and fails with errorCode 101 when it changed', async () => {
    await etcd.set('/keys/cas', 'a');
    const ok = await etcd.compareAndSwap('/keys/cas', 'b', { prevValue: 'a' });
    expect(ok.action).toBe('compareAndSwap');
    expect(ok.prevNode?.value).toBe('a');
    const e = await etcd.compareAndSwap('/keys/cas', 'c', { prevValue: 'a' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EtcdCompareFailedError);
    expect(e).toMatchObject({ errorCode: 101, httpStatus: 412, key: '/keys/cas' });
    expect((e as Error).message).toContain('[a != b]');
  });

  test('compare-and-swap on the index fails once someone else wrote the key', async () => {
    const first = await etcd.set('/keys/cas-index', '1');
    await etcd.set('/keys/cas-index', 'other writer');
    await expect(etcd.compareAndSwap('/keys/cas-index', '2', { prevIndex: first.node.modifiedIndex })).rejects.toBeInstanceOf(EtcdCompareFailedError);
  });

  test('a missing key is EtcdKeyNotFoundError with the key and the etcd index', async () => {
    const e = await etcd.get('/keys/does-not-exist').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EtcdKeyNotFoundError);
    expect(e).toMatchObject({ errorCode: 100, key: '/keys/does-not-exist' });
    expect((e as EtcdKeyNotFoundError).etcdIndex).toBeGreaterThan(0);
  });

  test('a directory is deleted only with dir (empty) or recursive', async () => {
    await etcd.set('/rm/full/k', 'v');
    await etcd.mkdir('/rm/empty');
    await expect(etcd.delete('/rm/full')).rejects.toBeInstanceOf(EtcdNotAFileError);
    await expect(etcd.delete('/rm/full', { dir: true })).rejects.toBeInstanceOf(EtcdDirNotEmptyError);
    expect((await etcd.delete('/rm/empty', { dir: true })).action).toBe('delete');
    expect((await etcd.delete('/rm/full', { recursive: true })).action).toBe('delete');
    await expect(etcd.get('/rm/full/k')).rejects.toBeInstanceOf(EtcdKeyNotFoundError);
  });

  test('a conditional delete refuses when the value changed', async () => {
    await etcd.set('/keys/cad', 'mine');
    await expect(etcd.delete('/keys/cad', { prevValue: 'theirs' })).rejects.toBeInstanceOf(EtcdCompareFailedError);
    const d = await etcd.delete('/keys/cad', { prevValue: 'mine' });
    expect(d.action).toBe('compareAndDelete');
  });

  test('a key with a TTL expires, and the watch reports the expiry', async () => {
    const r = await etcd.set('/ttl/short', 'v', { ttlSeconds: 1 });
    expect(r.node.ttl).toBe(1);
    const ev = await etcd.watch('/ttl/short', { waitIndex: r.node.modifiedIndex + 1, timeoutMs: 10_000 });
    expect(ev.action).toBe('expire');
    await expect(etcd.get('/ttl/short')).rejects.toBeInstanceOf(EtcdKeyNotFoundError);
  });

  test('a TTL refresh keeps the value and resets the TTL', async () => {
    await etcd.set('/ttl/refresh', 'kept', { ttlSeconds: 5 });
    const r = await etcd.refreshTtl('/ttl/refresh', 100);
    expect(r.node).toMatchObject({ value: 'kept', ttl: 100 });
  });

  test('a TTL refresh of a missing key fails instead of creating it', async () => {
    await expect(etcd.refreshTtl('/ttl/never', 10)).rejects.toBeInstanceOf(EtcdKeyNotFoundError);
  });

  test('in-order keys are created under a directory in creation order', async () => {
    const a = await etcd.createInOrder('/queue', 'a');
    const b = await etcd.createInOrder('/queue', 'b');
    expect(a.action).toBe('create');
    const g = await etcd.get('/queue', { sorted: true });
    expect(g.node.nodes?.map((n) => n.key)).toEqual([a.node.key, b.node.key]);
  });

  test('values and key names with special characters round-trip', async () => {
    const value = 'a=b&c d+é\n{"json":true}';
    await etcd.set('/odd/na me?x#y', value);
    expect((await etcd.get('/odd/na me?x#y')).node).toMatchObject({ key: '/odd/na me?x#y', value });
  });
});
