import { describe, expect, test } from '@jest/globals';
import {
  EtcdCompareFailedError,
  EtcdDirNotEmptyError,
  EtcdKeyNotFoundError,
  EtcdNodeExistsError,
  EtcdNotAFileError,
} from '../../../src/etcd/errors.js';
import { useLocalCluster } from './local-cluster.js';

const local = useLocalCluster(201, 3);

describe('etcd v2 keys against a real 3-member cluster', () => {
  test('a set answers with the node and an X-Etcd-Index equal to its modifiedIndex', async () => {
    const r = await local.etcd.set('/keys/plain', 'v1');
    expect(r.action).toBe('set');
    expect(r.node).toMatchObject({ key: '/keys/plain', value: 'v1' });
    expect(r.etcdIndex).toBe(r.node.modifiedIndex);
    const g = await local.etcd.get('/keys/plain', { quorum: true });
    expect(g.node.value).toBe('v1');
    expect(g.etcdIndex).toBeGreaterThanOrEqual(r.node.modifiedIndex);
  });

  test('a recursive sorted get returns the whole tree in key order', async () => {
    await local.etcd.set('/tree/b/y', '2');
    await local.etcd.set('/tree/a', '1');
    await local.etcd.set('/tree/b/x', '3');
    const g = await local.etcd.get('/tree', { recursive: true, sorted: true });
    expect(g.node.dir).toBe(true);
    expect(g.node.nodes?.map((n) => n.key)).toEqual(['/tree/a', '/tree/b']);
    expect(g.node.nodes?.[1]?.nodes?.map((n) => [n.key, n.value])).toEqual([
      ['/tree/b/x', '3'],
      ['/tree/b/y', '2'],
    ]);
  });

  test('create refuses an existing key with EtcdNodeExistsError and leaves its value alone', async () => {
    await local.etcd.create('/keys/created', 'first');
    await expect(local.etcd.create('/keys/created', 'second')).rejects.toBeInstanceOf(EtcdNodeExistsError);
    expect((await local.etcd.get('/keys/created')).node.value).toBe('first');
  });

  test('compare-and-swap on the value succeeds when it matches and fails with errorCode 101 when it changed', async () => {
    await local.etcd.set('/keys/cas', 'a');
    const ok = await local.etcd.compareAndSwap('/keys/cas', 'b', { prevValue: 'a' });
    expect(ok.action).toBe('compareAndSwap');
    expect(ok.prevNode?.value).toBe('a');
    const e = await local.etcd.compareAndSwap('/keys/cas', 'c', { prevValue: 'a' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EtcdCompareFailedError);
    expect(e).toMatchObject({ errorCode: 101, httpStatus: 412, key: '/keys/cas' });
    expect((e as Error).message).toContain('[a != b]');
  });

  test('compare-and-swap on the index fails once someone else wrote the key', async () => {
    const first = await local.etcd.set('/keys/cas-index', '1');
    await local.etcd.set('/keys/cas-index', 'other writer');
    await expect(
      local.etcd.compareAndSwap('/keys/cas-index', '2', { prevIndex: first.node.modifiedIndex }),
    ).rejects.toBeInstanceOf(EtcdCompareFailedError);
  });

  test('a missing key is EtcdKeyNotFoundError with the key and the etcd index', async () => {
    const e = await local.etcd.get('/keys/does-not-exist').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EtcdKeyNotFoundError);
    expect(e).toMatchObject({ errorCode: 100, key: '/keys/does-not-exist' });
    expect((e as EtcdKeyNotFoundError).etcdIndex).toBeGreaterThan(0);
  });

  test('a directory is deleted only with dir (empty) or recursive', async () => {
    await local.etcd.set('/rm/full/k', 'v');
    await local.etcd.mkdir('/rm/empty');
    await expect(local.etcd.delete('/rm/full')).rejects.toBeInstanceOf(EtcdNotAFileError);
    await expect(local.etcd.delete('/rm/full', { dir: true })).rejects.toBeInstanceOf(EtcdDirNotEmptyError);
    expect((await local.etcd.delete('/rm/empty', { dir: true })).action).toBe('delete');
    expect((await local.etcd.delete('/rm/full', { recursive: true })).action).toBe('delete');
    await expect(local.etcd.get('/rm/full/k')).rejects.toBeInstanceOf(EtcdKeyNotFoundError);
  });

  test('a conditional delete refuses when the value changed', async () => {
    await local.etcd.set('/keys/cad', 'mine');
    await expect(local.etcd.delete('/keys/cad', { prevValue: 'theirs' })).rejects.toBeInstanceOf(
      EtcdCompareFailedError,
    );
    const d = await local.etcd.delete('/keys/cad', { prevValue: 'mine' });
    expect(d.action).toBe('compareAndDelete');
  });

  test('a key with a TTL expires, and the watch reports the expiry', async () => {
    const r = await local.etcd.set('/ttl/short', 'v', { ttlSeconds: 1 });
    expect(r.node.ttl).toBe(1);
    const ev = await local.etcd.watch('/ttl/short', {
      waitIndex: r.node.modifiedIndex + 1,
      timeoutMs: 10_000,
    });
    expect(ev.action).toBe('expire');
    await expect(local.etcd.get('/ttl/short')).rejects.toBeInstanceOf(EtcdKeyNotFoundError);
  });

  test('a TTL refresh keeps the value and resets the TTL', async () => {
    await local.etcd.set('/ttl/refresh', 'kept', { ttlSeconds: 5 });
    const r = await local.etcd.refreshTtl('/ttl/refresh', 100);
    expect(r.node).toMatchObject({ value: 'kept', ttl: 100 });
  });

  test('a TTL refresh of a missing key fails instead of creating it', async () => {
    await expect(local.etcd.refreshTtl('/ttl/never', 10)).rejects.toBeInstanceOf(EtcdKeyNotFoundError);
  });

  test('in-order keys are created under a directory in creation order', async () => {
    const a = await local.etcd.createInOrder('/queue', 'a');
    const b = await local.etcd.createInOrder('/queue', 'b');
    expect(a.action).toBe('create');
    const g = await local.etcd.get('/queue', { sorted: true });
    expect(g.node.nodes?.map((n) => n.key)).toEqual([a.node.key, b.node.key]);
  });

  test('values and key names with special characters round-trip', async () => {
    const value = 'a=b&c d+é\n{"json":true}';
    await local.etcd.set('/odd/na me?x#y', value);
    expect((await local.etcd.get('/odd/na me?x#y')).node).toMatchObject({ key: '/odd/na me?x#y', value });
  });
});
