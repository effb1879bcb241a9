import { afterAll, describe, expect, test } from '@jest/globals';
import { remoteOf } from '../../src/actions/remote.js';
import { etcdClientFor } from '../../src/etcd/index.js';
import { renderSpareEtcdDefault } from '../../src/lab/render.js';
import { labTopology, SPARE_CLUSTER } from '../../src/lab/topology.js';
import { argvCommand } from '../../src/ssh/command.js';
import { waitUntil } from '../../src/util/wait.js';
import { labEnv } from '../integration/actions/harness.js';
import { labConfig, labConfigPath } from '../integration/lab.js';
import { runCli } from '../support/cli.js';

const config = labConfig();
const env = labEnv(config);
const cluster = SPARE_CLUSTER;
const c = config.etcd.clusters[cluster]!;
const cli = (args: string[]) => runCli(args, { GALLEY_CONFIG: labConfigPath() }, 300_000);

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

/** What each member of the spare cluster looks like from the outside: unit state, data entries, settings. */
async function snapshot() {
  return Promise.all(
    c.members.map(async (h) => ({
      host: h,
      state: (await sh(h, 'systemctl is-active "$1" || true', c.unit)).trim(),
      entries: Number((await sh(h, 'ls -A "$1" 2>/dev/null | wc -l', c.dataDir)).trim()),
      settings: await sh(h, 'cat "$1"', c.envFile),
    })),
  );
}

/** Puts the spare cluster back as the lab made it: etcd stopped, data empty, settings as written at lab up. */
async function restoreSpareCluster() {
  const t = labTopology(process.env.GALLEY_TEST_LAB_BASE ?? '127.21', 0);
  const spare = t.spareClusters.find((x) => x.name === cluster)!;
  for (const m of spare.members) {
    await sh(m.name, 'systemctl stop "$1"; find "$2" -mindepth 1 -delete', c.unit, c.dataDir).catch(
      () => undefined,
    );
  }
  for (const m of spare.members) {
    const r = await remoteOf(env).executor.execute(
      [m.name],
      argvCommand(['sh', '-c', 'cat > "$1"', 'w', c.envFile]),
      { stdin: renderSpareEtcdDefault(spare, m) },
    );
    if (r.results[0]!.exitCode !== 0) throw new Error(`cannot restore ${c.envFile} on ${m.name}`);
  }
}

afterAll(async () => {
  await restoreSpareCluster();
  await env.close();
}, 120_000);

describe('cookbook etcd.bootstrap against the lab (the empty kubetcd cluster)', () => {
  test('the lab defines the third cluster with nothing running on its hosts', async () => {
    expect(c).toMatchObject({
      inService: false,
      members: ['kubetcd1004.eqiad.wmnet', 'kubetcd1005.eqiad.wmnet', 'kubetcd1006.eqiad.wmnet'],
    });
    const s = await snapshot();
    expect(s.map((x) => [x.state, x.entries])).toEqual([
      ['inactive', 0],
      ['inactive', 0],
      ['inactive', 0],
    ]);
  });

  test('an unknown cluster is a one-line usage error (exit 2) and nothing changes', async () => {
    const before = await snapshot();
    const r = cli(['etcd.bootstrap', 'kubetcd2', '-y']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')[0]).toBe(
      'cookbook: CLUSTER: unknown etcd cluster "kubetcd2"; known: eqiad, codfw, kubetcd',
    );
    expect(await snapshot()).toEqual(before);
  });

  test('a dry-run plans the start of the first member and changes nothing', async () => {
    const before = await snapshot();
    const r = cli(['etcd.bootstrap', cluster, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('kubetcd1004.eqiad.wmnet etcd: inactive → active');
    expect(r.stdout).toContain('✓ dry-run complete: nothing was changed');
    expect(await snapshot()).toEqual(before);
  }, 300_000);

  test('bootstrap builds the cluster from nothing to 3 healthy members with state "existing" everywhere; a re-run is done with nothing to change', async () => {
    const r = cli(['etcd.bootstrap', cluster, '-y', '-t', 'T123456']);
    expect(r.stdout).toContain('✓ etcd.bootstrap done');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('profile::etcd::cluster_bootstrap: false');

    const each = c.members.map((h) => etcdClientFor(config, cluster, { via: 'local', members: [h] }));
    try {
      const members = await each[0]!.members();
      expect(members.map((m) => m.name).sort()).toEqual(c.members);
      const leaders = await Promise.all(each.map((m) => m.selfStats()));
      expect(new Set(leaders.map((l) => l.leaderId)).size).toBe(1);
      expect(leaders[0]!.leaderId).toBeTruthy();
      // A write on one member is read back on every other one.
      await each[0]!.set('/bootstrap/probe', 'written on the first member');
      for (const m of each.slice(1))
        expect((await m.get('/bootstrap/probe', { quorum: true })).node.value).toBe(
          'written on the first member',
        );
    } finally {
      for (const m of each) m.close();
    }
    const s = await snapshot();
    const full = c.members.map((h) => `${h}=http://${config.hosts[h]!.address}:${c.peerPort}`).join(',');
    for (const m of s) {
      expect(m.state).toBe('active');
      expect(m.settings).toContain('ETCD_INITIAL_CLUSTER_STATE="existing"');
      expect(m.settings).toContain(`ETCD_INITIAL_CLUSTER="${full}"`);
    }

    const again = cli(['etcd.bootstrap', cluster, '-y']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('✓ etcd.bootstrap done');
    expect(again.stdout).not.toMatch(/^ {4}· /m);
    expect(again.stdout.match(/= already done: nothing to change/g)).toHaveLength(4);
  }, 600_000);
});
