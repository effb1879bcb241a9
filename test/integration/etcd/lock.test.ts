import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { LockHeldError } from '../../../src/core/errors.js';
import { EtcdClient } from '../../../src/etcd/client.js';
import { EtcdKeyNotFoundError } from '../../../src/etcd/errors.js';
import { EtcdLockManager, lockDir } from '../../../src/etcd/lock.js';
import { LocalEtcdCluster } from './local-cluster.js';

let cluster: LocalEtcdCluster;
let etcd: EtcdClient;
let locks: EtcdLockManager;
const prefix = '/galley/locks';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  cluster = new LocalEtcdCluster(205, 1);
  await cluster.start();
  etcd = new EtcdClient({ endpoints: cluster.clientUrls.map((url) => ({ url })), timeoutMs: 5000 });
  locks = new EtcdLockManager({ client: etcd, prefix });
}, 60_000);

afterAll(async () => {
  etcd?.close();
  await cluster?.destroy();
});

const request = (name: string, runId: string, extra: { concurrency?: number; ttlMs?: number } = {}) => ({
  name,
  owner: `alice@cumin1001 [${runId}]`,
  runId,
  ...extra,
});

describe('the etcd-backed lock against a real etcd', () => {
  test('a holder that was a process of this host and no longer exists is taken back, not waited for; a live one is not', async () => {
    const deadPid = spawnSync('true').pid!;
    const stale = await locks.acquire({
      name: 'stale',
      owner: `alice@${hostname()} [${deadPid}]`,
      runId: 'dead-run',
      ttlMs: 60_000,
    });
    const next = await locks.acquire({
      name: 'stale',
      owner: `bob@${hostname()} [${process.pid}]`,
      runId: 'next-run',
    });
    expect((await locks.holders('stale')).map((h) => h.runId)).toEqual(['next-run']);
    // A holder that is alive here (this process) still blocks.
    const e = await locks
      .acquire({ name: 'stale', owner: `carol@${hostname()} [${process.pid}]`, runId: 'third' })
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LockHeldError);
    await next.release();
    await stale.release();
  });

  test('a second run is refused while the first holds the lock, naming the holder and its run id', async () => {
    const held = await locks.acquire(request('etcd.switchover', 'run-1'));
    const e = await locks.acquire(request('etcd.switchover', 'run-2')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LockHeldError);
    expect((e as LockHeldError).holders).toHaveLength(1);
    expect((e as LockHeldError).holders[0]).toMatch(
      /^alice@cumin1001 \[run-1\] since \d{4}-\d\d-\d\dT\S+ \(run run-1\); it expires at \d{4}-\d\d-\d\dT\S+ unless refreshed$/,
    );
    expect((await locks.holders('etcd.switchover')).map((h) => h.runId)).toEqual(['run-1']);
    await held.release();
    const next = await locks.acquire(request('etcd.switchover', 'run-2'));
    await next.release();
  });

  test('the holder key is JSON with owner, run id, since and concurrency, under the configured prefix with a TTL', async () => {
    const held = await locks.acquire(
      request('dns.switch:wmnet', 'run-json', { concurrency: 3, ttlMs: 30_000 }),
    );
    const dir = await etcd.get(lockDir(prefix, 'dns.switch:wmnet'));
    const nodes = dir.node.nodes ?? [];
    expect(nodes).toHaveLength(1);
    expect(nodes[0]!.key.startsWith('/galley/locks/dns.switch:wmnet/')).toBe(true);
    expect(nodes[0]!.ttl).toBeGreaterThan(0);
    expect(nodes[0]!.ttl).toBeLessThanOrEqual(30);
    expect(JSON.parse(nodes[0]!.value ?? '')).toEqual({
      owner: 'alice@cumin1001 [run-json]',
      runId: 'run-json',
      since: expect.any(String),
      concurrency: 3,
    });
    await held.release();
    await expect(etcd.get(lockDir(prefix, 'dns.switch:wmnet'))).rejects.toBeInstanceOf(EtcdKeyNotFoundError);
  });

  test('two contenders racing for a free lock: exactly one wins', async () => {
    for (let round = 0; round < 5; round++) {
      const results = await Promise.allSettled([
        locks.acquire(request('race', `a${round}`)),
        locks.acquire(request('race', `b${round}`)),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect((lost[0] as PromiseRejectedResult).reason).toBeInstanceOf(LockHeldError);
      await (won[0] as PromiseFulfilledResult<{ release(): Promise<void> }>).value.release();
    }
  });

  test('with concurrency 2, two runs hold the lock and the third is refused naming both', async () => {
    const a = await locks.acquire(request('reimage', 'r1', { concurrency: 2 }));
    const b = await locks.acquire(request('reimage', 'r2', { concurrency: 2 }));
    const e = await locks.acquire(request('reimage', 'r3', { concurrency: 2 })).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LockHeldError);
    expect((e as LockHeldError).holders.map((h) => /\(run (\S+)\)/.exec(h)?.[1])).toEqual(['r1', 'r2']);
    await a.release();
    const c = await locks.acquire(request('reimage', 'r3', { concurrency: 2 }));
    await Promise.all([b.release(), c.release()]);
  });

  test('a live holder keeps the lock past its TTL by refreshing it', async () => {
    const held = await locks.acquire(request('refresh', 'alive', { ttlMs: 1000 }));
    await sleep(3000);
    await expect(locks.acquire(request('refresh', 'late'))).rejects.toBeInstanceOf(LockHeldError);
    await held.release();
  }, 20_000);

  test('the lock of a holder that died expires after its TTL and can then be taken', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/hold-lock.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fixture, cluster.clientUrls[0]!, prefix, 'deadly', 'dead-run', '2000'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
      child.once('exit', (code) => reject(new Error(`lock holder exited early with ${code}`)));
    });
    await expect(locks.acquire(request('deadly', 'waiting'))).rejects.toThrow(/\(run dead-run\)/);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    let handle;
    for (let i = 0; i < 40 && !handle; i++) {
      try {
        handle = await locks.acquire(request('deadly', 'waiting'));
      } catch (e) {
        if (!(e instanceof LockHeldError)) throw e;
        await sleep(250);
      }
    }
    expect(handle?.name).toBe('deadly');
    await handle?.release();
  }, 30_000);

  test('releasing twice is harmless', async () => {
    const held = await locks.acquire(request('twice', 'r'));
    await held.release();
    await expect(held.release()).resolves.toBeUndefined();
  });
});
