import { afterAll, describe, expect, test } from '@jest/globals';
import { remoteOf } from '../../src/actions/remote.js';
import { etcdClientFor, type EtcdNode } from '../../src/etcd/index.js';
import { argvCommand } from '../../src/ssh/command.js';
import { waitUntil } from '../../src/util/wait.js';
import { labEnv } from '../integration/actions/harness.js';
import { labConfig, labConfigPath } from '../integration/lab.js';
import { runCli } from '../support/cli.js';

/**
 * The backup → disaster → recovery → reload sequence on the replica cluster (eqiad): the tests
 * of this file run in order and leave the lab as they found it (3 healthy members, replication
 * codfw → eqiad running, both keyspaces equal).
 */
const config = labConfig();
const env = labEnv(config);
const eqiad = config.etcd.clusters.eqiad!;
const mirror = config.replication!.mirrors.eqiad!;
const root = `${eqiad.backupDir}/eqiad`;
const cli = (args: string[]) => runCli(args, { GALLEY_CONFIG: labConfigPath() }, 400_000);
const tag = `recovery-${Date.now()}`;
const data = Object.fromEntries(
  [1, 2, 3, 4, 5].map((i) => [`/lifecycle/${tag}/key${i}`, `value ${i} of ${tag}`]),
);

/** Runs a command on a lab host; a connection that could not be made (a loaded machine) is tried again. */
async function sh(host: string, script: string, ...args: string[]): Promise<string> {
  return waitUntil({
    what: `${host}: ${script}`,
    probe: async () => {
      const r = (
        await remoteOf(env).executor.execute([host], argvCommand(['sh', '-c', script, 'sh', ...args]))
      ).results[0]!;
      if (r.error !== undefined) throw new Unreachable(`${host}: ${r.error}`);
      if (r.exitCode !== 0) throw new Error(`${host}: ${script} exited ${r.exitCode}: ${r.stderr}`);
      return r.stdout;
    },
    retryOn: (e) => e instanceof Unreachable,
    timeoutMs: 60_000,
    intervalMs: 500,
  });
}
class Unreachable extends Error {}

const local = (cluster: string, host?: string) =>
  etcdClientFor(config, cluster, { via: 'local', members: host ? [host] : undefined, timeoutMs: 3000 });

/** Every replicated key and value of a cluster (hidden keys and the ignored lock keys left out), sorted. */
async function keyspace(cluster: string): Promise<string[]> {
  const ignore = new RegExp(config.replication!.ignoreKeysRegex);
  const c = local(cluster);
  try {
    const lines: string[] = [];
    const walk = (n: EtcdNode) => {
      if (ignore.test(n.key ?? '')) return;
      if (n.dir) for (const x of n.nodes ?? []) walk(x);
      else lines.push(`${n.key}=${n.value}`);
    };
    walk((await c.get('/', { recursive: true, quorum: true })).node);
    return lines.sort();
  } finally {
    c.close();
  }
}

async function backups(host: string): Promise<string[]> {
  return (await sh(host, 'ls -1 "$1" 2>/dev/null || true', root))
    .split('\n')
    .filter((l) => /^\d{8}-\d{6}$/.test(l));
}

/** What a dry-run must leave alone on eqiad: each member's etcd state, data entries and settings, and the mirror. */
async function eqiadSnapshot() {
  const members = await Promise.all(
    eqiad.members.map(async (h) => ({
      host: h,
      state: (await sh(h, 'systemctl is-active "$1" || true', eqiad.unit)).trim(),
      entries: (await sh(h, 'ls -A "$1" 2>/dev/null | wc -l', eqiad.dataDir)).trim(),
      settings: await sh(h, 'cat "$1"', eqiad.envFile),
      backups: await backups(h),
    })),
  );
  return { members, mirror: (await sh(mirror.host, 'systemctl is-active "$1" || true', mirror.unit)).trim() };
}

let backupHost = '';

afterAll(() => env.close());

describe('etcd.backup, etcd.disaster-recovery and etcd.replication-reload against the lab', () => {
  test('a backup of eqiad is taken on one member, verified in a throwaway etcd, and older ones are pruned to N', async () => {
    // The data to find after the recovery, written on the master and replicated; then a
    // sentinel, so that the data is certainly in a backup taken of a live member.
    const codfw = etcdClientFor(config, 'codfw', { via: 'proxy' });
    for (const [k, v] of Object.entries(data)) await codfw.set(k, v);
    await codfw.set(`/lifecycle/${tag}/sentinel`, 'written last');
    codfw.close();
    const replica = local('eqiad');
    await waitUntil({
      what: 'eqiad holds the sentinel',
      probe: () =>
        replica.get(`/lifecycle/${tag}/sentinel`).then(
          (r) => r.node.value,
          () => undefined,
        ),
      until: (v) => v === 'written last',
      timeoutMs: 30_000,
    });
    replica.close();

    const dry = cli(['etcd.backup', 'eqiad', '--dry-run']);
    expect(dry.code).toBe(0);
    const before = await Promise.all(eqiad.members.map(backups));

    const first = cli(['etcd.backup', 'eqiad', '-y', '--json']);
    expect(first.code).toBe(0);
    const report = (
      JSON.parse(first.stdout) as { report: { backup: { host: string; path: string; keys: number } } }
    ).report.backup;
    backupHost = report.host;
    expect(report.path).toMatch(new RegExp(`^${root}/\\d{8}-\\d{6}$`));
    expect(report.keys).toBeGreaterThanOrEqual(Object.keys(data).length);
    // The dry-run created nothing; the run added exactly its dated directory, verified.
    const added = (await backups(backupHost)).filter(
      (b) => !before[eqiad.members.indexOf(backupHost)]!.includes(b),
    );
    expect(added).toEqual([report.path.split('/').pop()]);
    const verified = JSON.parse(await sh(backupHost, 'cat "$1/VERIFIED"', report.path)) as {
      keys: number;
      digest: string;
    };
    expect(verified.keys).toBe(report.keys);

    // Two more, the last one keeping 2: the oldest go, the newest two stay.
    await new Promise((r) => setTimeout(r, 1100));
    expect(cli(['etcd.backup', 'eqiad', '-y']).code).toBe(0);
    await new Promise((r) => setTimeout(r, 1100));
    const third = cli(['etcd.backup', 'eqiad', '-y', '--keep', '2']);
    expect(third.code).toBe(0);
    const kept = await backups(backupHost);
    expect(kept).toHaveLength(2);
    expect(kept).not.toContain(report.path.split('/').pop());
    expect(third.stdout).toContain(`delete the old backup ${report.path}`);
  }, 900_000);

  test('a backup path that does not exist is refused with a one-line error (exit 2), changing nothing', async () => {
    const before = await eqiadSnapshot();
    const r = cli(['etcd.disaster-recovery', 'eqiad', '--backup', `${root}/20000101-000000`, '-y']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--backup ${root}/20000101-000000: no backup of eqiad there`);
    expect(r.stderr).toContain('nothing was changed');
    const outside = cli(['etcd.disaster-recovery', 'eqiad', '--backup', '/tmp', '-y']);
    expect(outside.code).toBe(2);
    expect(outside.stderr.split('\n')[0]).toBe(
      `cookbook: --backup /tmp: not a backup of eqiad (they live in ${root}/YYYYMMDD-HHMMSS)`,
    );
    const unknown = cli(['etcd.disaster-recovery', 'eqiad2', '--backup', 'latest', '-y']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.split('\n')[0]).toContain('unknown etcd cluster "eqiad2"');
    expect(await eqiadSnapshot()).toEqual(before);
  }, 900_000);

  test('a cluster that has quorum is refused (exit 1), changing nothing', async () => {
    const before = await eqiadSnapshot();
    const r = cli(['etcd.disaster-recovery', 'eqiad', '--backup', 'latest', '-y']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('eqiad has quorum');
    expect(await eqiadSnapshot()).toEqual(before);
  }, 900_000);

  test('two of three members killed with their data wiped: disaster recovery brings back 3 healthy members holding every key of the backup', async () => {
    const victims = eqiad.members.filter((h) => h !== backupHost).slice(0, 2);
    for (const h of victims) {
      await sh(
        h,
        'kill -KILL "$(cat /run/lab-units/etcd.pid)"; sleep 0.3; find "$1" -mindepth 1 -delete',
        eqiad.dataDir,
      );
    }
    const survivor = eqiad.members.find((h) => !victims.includes(h))!;
    const s = local('eqiad', survivor);
    await waitUntil({
      what: 'eqiad loses quorum',
      probe: () =>
        s.health().then(
          (x) => x.healthy,
          () => false,
        ),
      until: (ok) => !ok,
      timeoutMs: 30_000,
    });
    s.close();

    const before = await eqiadSnapshot();
    const dry = cli(['etcd.disaster-recovery', 'eqiad', '--backup', 'latest', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(
      /ERASE \/var\/lib\/etcd\/eqiad\.wmnet and put a copy of the backup .* \[IRREVERSIBLE\]/,
    );
    expect(await eqiadSnapshot()).toEqual(before);

    const r = cli(['etcd.disaster-recovery', 'eqiad', '--backup', 'latest', '-y', '-t', 'T123456']);
    expect(r.stdout + r.stderr).toContain('✓ etcd.disaster-recovery done');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('holds every key of the backup');
    expect(r.stdout).toContain('cookbook etcd.replication-reload --datacenter eqiad');

    const each = eqiad.members.map((h) => local('eqiad', h));
    try {
      const members = await each[0]!.members();
      expect(members.map((m) => m.name).sort()).toEqual([...eqiad.members].sort());
      for (const m of members)
        expect(m.peerURLs).toEqual([`http://${config.hosts[m.name]!.address}:${eqiad.peerPort}`]);
      const health = await Promise.all(each.map((c) => c.health()));
      expect(health.every((x) => x.healthy)).toBe(true);
      for (const c of each) {
        for (const [k, v] of Object.entries(data)) expect((await c.get(k)).node.value).toBe(v);
      }
    } finally {
      for (const c of each) c.close();
    }
    for (const h of eqiad.members) {
      const settings = await sh(h, 'cat "$1"', eqiad.envFile);
      expect(settings).toContain('ETCD_INITIAL_CLUSTER_STATE="existing"');
      expect(settings).not.toContain('ETCD_FORCE_NEW_CLUSTER');
    }
  }, 900_000);

  test('a replication reload after the recovery: its dry-run changes nothing, then the mirror runs and both keyspaces are equal', async () => {
    const before = {
      eqiad: await keyspace('eqiad'),
      mirror: (await sh(mirror.host, 'systemctl is-active "$1" || true', mirror.unit)).trim(),
    };
    const dry = cli(['etcd.replication-reload', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('ERASE every key of eqiad under /');
    expect({
      eqiad: await keyspace('eqiad'),
      mirror: (await sh(mirror.host, 'systemctl is-active "$1" || true', mirror.unit)).trim(),
    }).toEqual(before);

    const r = cli(['etcd.replication-reload', '-y', '-r', 'after disaster recovery']);
    expect(r.stdout).toContain('✓ etcd.replication-reload done');
    expect(r.code).toBe(0);
    expect((await sh(mirror.host, 'systemctl is-active "$1" || true', mirror.unit)).trim()).toBe('active');
    const codfw = etcdClientFor(config, 'codfw', { via: 'proxy' });
    await codfw.set(`/lifecycle/${tag}/after-reload`, 'replicated');
    codfw.close();
    await waitUntil({
      what: 'both keyspaces are equal',
      probe: async () => [await keyspace('codfw'), await keyspace('eqiad')],
      until: ([a, b]) =>
        JSON.stringify(a) === JSON.stringify(b) && a!.includes(`/lifecycle/${tag}/after-reload=replicated`),
      timeoutMs: 30_000,
    });
  }, 600_000);
});
