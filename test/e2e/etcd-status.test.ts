import { afterAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { remoteOf } from '../../src/actions/remote.js';
import { argvCommand } from '../../src/ssh/command.js';
import { etcdClientFor, type EtcdNode } from '../../src/etcd/index.js';
import { labEnv } from '../integration/actions/harness.js';
import { labConfig, labConfigPath } from '../integration/lab.js';
import { runCli } from '../support/cli.js';

const config = labConfig();
const env = labEnv(config);
afterAll(() => env.close());

const cookbook = (args: string[]) => runCli(args, { GALLEY_CONFIG: labConfigPath() });

async function sh(host: string, ...argv: string[]) {
  const r = await remoteOf(env).executor.execute([host], argvCommand(argv));
  const res = r.results[0]!;
  if (res.exitCode !== 0)
    throw new Error(`${host}: ${argv.join(' ')} exited ${res.exitCode}: ${res.stderr}${res.error ?? ''}`);
}

/** Every key and value of both clusters, as a hash (through the local client port). */
async function keyspaceDigest(): Promise<string> {
  const h = createHash('sha256');
  for (const cluster of ['eqiad', 'codfw']) {
    const c = etcdClientFor(config, cluster, { via: 'local' });
    const walk = (n: EtcdNode) => {
      h.update(`${cluster} ${n.key} ${n.value ?? '<dir>'} ${n.modifiedIndex}\n`);
      for (const x of n.nodes ?? []) walk(x);
    };
    walk((await c.get('/', { recursive: true, sorted: true })).node);
    c.close();
  }
  return h.digest('hex');
}

describe('cookbook etcd.status against the lab', () => {
  test('shows both clusters, the leader, the proxies, replication and the SRV records', () => {
    const r = cookbook(['etcd.status']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /eqiad \(eqiad\): healthy, leader conf100[789]\.eqiad\.wmnet, etcd index \d+, proxy read-only/,
    );
    expect(r.stdout).toMatch(
      /codfw \(codfw\): healthy, leader conf200[456]\.codfw\.wmnet, etcd index \d+, proxy read-write/,
    );
    expect(r.stdout).toMatch(
      /_etcd\._tcp\.codfw\.wmnet +authdns2001\.codfw\.wmnet +\d+ +0 1 4001 conf2004\.codfw\.wmnet/,
    );
    expect(r.stdout).toContain('configured master codfw; replication codfw → eqiad');
  });

  test('--json gives the same facts for scripts', () => {
    const r = cookbook(['etcd.status', '--json']);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout) as {
      report: { clusters: { cluster: string; healthy: boolean; members: unknown[] }[]; srv: unknown[] };
    };
    expect(json.report.clusters.map((c) => [c.cluster, c.healthy, c.members.length])).toEqual([
      ['eqiad', true, 3],
      ['codfw', true, 3],
    ]);
    expect(json.report.srv).toHaveLength(3);
  });

  test('an unknown datacenter is a one-line usage error (exit 2)', () => {
    const r = cookbook(['etcd.status', '--datacenter', 'esams']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--datacenter: unknown datacenter "esams"; known: eqiad, codfw');
  });

  test('a dry-run leaves both keyspaces unchanged', async () => {
    const before = await keyspaceDigest();
    const r = cookbook(['etcd.status', '--dry-run']);
    expect(r.code).toBe(0);
    expect(await keyspaceDigest()).toBe(before);
  });

  test('with one member and one authdns server down it still answers within seconds and names them', async () => {
    const member = 'conf2005.codfw.wmnet';
    const dns = 'authdns2001.codfw.wmnet';
    await sh(member, 'systemctl', 'stop', 'etcd');
    await sh(dns, 'systemctl', 'stop', 'gdnsd');
    try {
      const r = cookbook(['etcd.status']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`${member.replace(/\./g, '\\.')} +- +DOWN: `));
      expect(r.stdout).toMatch(/codfw \(codfw\): healthy, leader/);
      expect(r.stdout).toMatch(/authdns2001\.codfw\.wmnet +- +DOWN: /);
      expect(r.ms).toBeLessThan(20_000); // a bound on hanging, not a performance figure
    } finally {
      await sh(member, 'systemctl', 'start', 'etcd');
      await sh(dns, 'systemctl', 'start', 'gdnsd');
    }
  }, 90_000);
});
