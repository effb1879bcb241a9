import { describe, expect, test } from '@jest/globals';
import { LockHeldError } from '../../../src/core/errors.js';
import {
  InMemoryLockManager,
  currentOwner,
  describeHolder,
  normalizeLockRequest,
} from '../../../src/core/lock.js';

const req = (runId: string, extra: { concurrency?: number; ttlMs?: number } = {}) => ({
  name: 'etcd.switchover',
  owner: `alice@cumin1001 [${runId}]`,
  runId,
  ...extra,
});

describe('InMemoryLockManager', () => {
  test('a second run is refused while the first holds the lock, with the holder named', async () => {
    const locks = new InMemoryLockManager({ now: () => Date.parse('2026-11-22T03:00:00Z') });
    await locks.acquire(req('r1'));
    const e = await locks.acquire(req('r2')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LockHeldError);
    expect((e as LockHeldError).holders).toEqual([
      'alice@cumin1001 [r1] since 2026-11-22T03:00:00.000Z (run r1); it expires at 2026-11-22T03:01:00.000Z unless refreshed',
    ]);
    expect((e as LockHeldError).message).toContain('lock etcd.switchover is held by alice@cumin1001 [r1]');
  });

  test('a released lock can be taken again, and releasing twice is harmless', async () => {
    const locks = new InMemoryLockManager();
    const h = await locks.acquire(req('r1'));
    await h.release();
    await h.release();
    const h2 = await locks.acquire(req('r2'));
    expect(h2.name).toBe('etcd.switchover');
    expect(locks.holders('etcd.switchover').map((x) => x.runId)).toEqual(['r2']);
  });

  test('concurrency 2 lets two runs in and refuses the third', async () => {
    const locks = new InMemoryLockManager();
    await locks.acquire(req('r1', { concurrency: 2 }));
    await locks.acquire(req('r2', { concurrency: 2 }));
    await expect(locks.acquire(req('r3', { concurrency: 2 }))).rejects.toThrow(/\(run r1\); .*\(run r2\)/);
  });

  test('a holder whose TTL passed no longer blocks', async () => {
    let now = 0;
    const locks = new InMemoryLockManager({ now: () => now });
    await locks.acquire(req('r1', { ttlMs: 5000 }));
    now = 4999;
    await expect(locks.acquire(req('r2'))).rejects.toBeInstanceOf(LockHeldError);
    now = 5000;
    await expect(locks.acquire(req('r2'))).resolves.toMatchObject({ name: 'etcd.switchover' });
  });

  test('different lock names do not block each other', async () => {
    const locks = new InMemoryLockManager();
    await locks.acquire(req('r1'));
    await expect(locks.acquire({ ...req('r2'), name: 'dns.switch' })).resolves.toMatchObject({
      name: 'dns.switch',
    });
  });
});

describe('lock helpers', () => {
  test('a holder is shown as "owner since TIME (run ID)"', () => {
    expect(describeHolder({ owner: 'bob@host [12]', since: '2026-01-01T00:00:00.000Z', runId: 'abc' })).toBe(
      'bob@host [12] since 2026-01-01T00:00:00.000Z (run abc)',
    );
  });

  test('a request gets concurrency 1 and a 60 s TTL by default, and bad values are refused', () => {
    expect(normalizeLockRequest({ name: 'x', owner: 'o', runId: 'r' })).toEqual({
      name: 'x',
      owner: 'o',
      runId: 'r',
      concurrency: 1,
      ttlMs: 60_000,
      without: [],
    });
    expect(() => normalizeLockRequest({ name: 'x', owner: 'o', runId: 'r', concurrency: 0 })).toThrow(
      /at least 1/,
    );
    expect(() => normalizeLockRequest({ name: 'x', owner: 'o', runId: 'r', ttlMs: -1 })).toThrow(/positive/);
  });

  test('the current owner is user@host [pid]', () => {
    expect(currentOwner()).toMatch(new RegExp(`^\\S+@\\S+ \\[${process.pid}\\]$`));
  });
});
