import { afterAll, describe, expect, jest, test } from '@jest/globals';
import { remoteOf } from '../../src/actions/remote.js';
import { argvCommand } from '../../src/ssh/command.js';
import { etcdClientFor, type EtcdClient, type EtcdNode } from '../../src/etcd/index.js';
import { sleep } from '../../src/util/wait.js';
import { labEnv } from '../integration/actions/harness.js';
import { labConfig, labConfigPath } from '../integration/lab.js';
import { runCli } from '../support/cli.js';

jest.setTimeout(300_000);

const config = labConfig();
const env = labEnv(config);
afterAll(() => env.close());
const replication = config.replication!;
const replicaDc = config.datacenters.find((dc) => dc !== replication.master)!;
const mirror = replication.mirrors[replicaDc]!;
const clusterOf = (dc: string) => Object.values(config.etcd.clusters).find((c) => c.datacenter === dc)!.name;

async function sh(host: string, ...argv: string[]): Promise<string> {
  const r = await remoteOf(env).executor.execute([host], argvCommand(argv));
  const res = r.results[0]!;
  if (res.exitCode !== 0)
    throw new Error(`${host}: ${argv.join(' ')} exited ${res.exitCode}: ${res.stderr}${res.error ?? ''}`);
  return res.stdout.trim();
}

/** key → value of a subtree (directories as "<dir>"). */
async function flat(c: EtcdClient, prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = (n: EtcdNode) => {
    out[n.key] = n.dir ? '<dir>' : (n.value ?? '');
    for (const x of n.nodes ?? []) walk(x);
  };
  try {
    walk((await c.get(prefix, { recursive: true, sorted: true })).node);
  } catch {
    return {};
  }
  return out;
}

const cookbook = (args: string[]) => runCli(args, { GALLEY_CONFIG: labConfigPath() });

describe('the lab mirror unit under restarts', () => {
  test('a mirror killed 5 times under 1,000 writes/s is restarted each time and ends with both keyspaces equal', async () => {
    const master = etcdClientFor(config, clusterOf(replication.master), { via: 'local' });
    const replica = etcdClientFor(config, clusterOf(replicaDc), { via: 'local' });
    const prefix = `/galley-test/restarts-${process.pid}`;
    let writing = true;
    let written = 0;
    const writer = (async () => {
      const t0 = Date.now();
      const inflight = new Set<Promise<unknown>>();
      while (writing) {
        const due = t0 + written; // 1 write per ms: 1,000/s
        if (due > Date.now()) await sleep(due - Date.now());
        const p = master.set(`${prefix}/k${written % 300}`, `v${written}`).finally(() => inflight.delete(p));
        inflight.add(p);
        written++;
        if (inflight.size >= 32) await Promise.race(inflight);
      }
      await Promise.all(inflight);
    })();
    try {
      const restarts = async () =>
        Number(await sh(mirror.host, 'systemctl', 'show', '-p', 'NRestarts', '--value', mirror.unit));
      const before = await restarts();
      for (let i = 1; i <= 5; i++) {
        await sleep(1500);
        await sh(mirror.host, 'systemctl', 'kill', '-s', 'KILL', mirror.unit);
        const deadline = Date.now() + 20_000;
        while ((await restarts()) < before + i) {
          if (Date.now() > deadline) throw new Error(`the mirror was not restarted after kill #${i}`);
          await sleep(200);
        }
      }
    } finally {
      writing = false;
      await writer;
    }
    expect(written).toBeGreaterThan(3000);
    const want = await flat(master, prefix);
    const deadline = Date.now() + 90_000;
    let got = await flat(replica, prefix);
    while (JSON.stringify(got) !== JSON.stringify(want) && Date.now() < deadline) {
      await sleep(500);
      got = await flat(replica, prefix);
    }
    expect(got).toEqual(want);
    expect(await sh(mirror.host, 'systemctl', 'is-active', mirror.unit)).toBe('active');
    await master.delete(prefix, { recursive: true });
    master.close();
    replica.close();
  });

  test('etcd.status exits 1 when replication is not running, and says why the mirror stopped', async () => {
    const master = etcdClientFor(config, clusterOf(replication.master), { via: 'local' });
    const replica = etcdClientFor(config, clusterOf(replicaDc), { via: 'local' });
    const key = `/galley-test/inconsistent-${process.pid}`;
    await master.set(key, 'v1');
    const deadline = Date.now() + 30_000;
    while ((await flat(replica, key))[key] !== 'v1' && Date.now() < deadline) await sleep(200);
    await replica.set(key, 'tampered');
    await master.set(key, 'v2');
    try {
      const stopDeadline = Date.now() + 30_000;
      while (
        (await sh(mirror.host, 'sh', '-c', `systemctl is-active ${mirror.unit} || true`)) === 'active' &&
        Date.now() < stopDeadline
      )
        await sleep(300);
      const r = cookbook(['etcd.status']);
      expect(r.code).toBe(1);
      expect(r.stdout + r.stderr).toContain('replication is not running: inconsistency at ' + key);
      expect(r.stdout).toContain(`${mirror.unit} on ${mirror.host} stopped: inconsistency at ${key}`);
    } finally {
      // the replica gets the source's value back; the replayed event is then recognised as applied
      await replica.set(key, 'v2');
      await sh(mirror.host, 'systemctl', 'start', mirror.unit);
      await master.delete(key);
    }
    const healthy = Date.now() + 60_000;
    let r = cookbook(['etcd.status']);
    while (r.code !== 0 && Date.now() < healthy) {
      await sleep(1000);
      r = cookbook(['etcd.status']);
    }
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('every cluster has quorum; replication runs');
    master.close();
    replica.close();
  });
});
