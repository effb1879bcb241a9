import { afterAll, describe, expect, test } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { clusterHealth, mirrorUses } from '../../src/actions/membership.js';
import { readRemoteFile } from '../../src/actions/remote.js';
import { checkReplicaHoldsSource } from '../../src/actions/replication.js';
import { observeRRset } from '../../src/dns/index.js';
import { etcdClientFor, type EtcdNode } from '../../src/etcd/index.js';
import { waitUntil } from '../../src/util/wait.js';
import { labEnv } from '../integration/actions/harness.js';
import { labConfig, labConfigPath } from '../integration/lab.js';
import { runCli, runCliAsync } from '../support/cli.js';

const config = labConfig();
const env = labEnv(config);
afterAll(() => env.close());
const out = (r: { stdout: string; stderr: string }) => r.stdout + r.stderr;
/** Runs the CLI on the lab; `expect` (an exit code) fails with the run's output when it differs. */
function cli(args: string[], expectCode?: number) {
  const r = runCli(args, { GALLEY_CONFIG: labConfigPath() }, 600_000);
  if (expectCode !== undefined && r.code !== expectCode)
    throw new Error(`cookbook ${args.join(' ')} exited ${r.code}, expected ${expectCode}:\n${out(r)}`);
  return r;
}

const codfw = config.etcd.clusters.codfw!;
const eqiad = config.etcd.clusters.eqiad!;
const rw = config.replication!.rwSrvRecord;

async function srvTargets(name: string): Promise<string[]> {
  const records = (await observeRRset(config, name, 'SRV')).records ?? [];
  return records
    .map((r) => (typeof r.data === 'object' && 'target' in r.data ? r.data.target.replace(/\.$/, '') : ''))
    .sort();
}

async function members(cluster: string): Promise<string[]> {
  return (await clusterHealth(env, cluster)).members.map((m) => m.host ?? m.id).sort();
}

/** Everything a membership run may change: members, SRV records, the mirror's unit, the etcd environment files. */
async function snapshot() {
  return {
    codfw: await members('codfw'),
    eqiad: await members('eqiad'),
    srv: {
      codfw: await srvTargets(codfw.srvRecord),
      eqiad: await srvTargets(eqiad.srvRecord),
      rw: await srvTargets(rw),
    },
    mirrors: (await mirrorUses(env)).map((m) => `${m.unit} ${m.active} ${m.source.url} ${m.destination.url}`),
    envFiles: await Promise.all(
      [...codfw.members, ...eqiad.members].map(
        async (h) => (await readRemoteFile(env, h, codfw.envFile)).content,
      ),
    ),
  };
}

/** Waits until every member of the cluster serves the same keyspace (values and indexes), and returns it. */
async function identicalOnEveryMember(cluster: string): Promise<EtcdNode> {
  const hosts = config.etcd.clusters[cluster]!.members;
  const trees = await waitUntil({
    what: `every member of ${cluster} holds the same keys`,
    probe: () =>
      Promise.all(
        hosts.map(async (h) => {
          const c = etcdClientFor(config, cluster, { via: 'local', members: [h] });
          try {
            return (await c.get('/', { recursive: true, sorted: true })).node;
          } finally {
            c.close();
          }
        }),
      ),
    until: (t) => t.every((x) => JSON.stringify(x) === JSON.stringify(t[0])),
    timeoutMs: 15_000,
    intervalMs: 200,
  });
  return trees[0]!;
}

/** Makes `host` the leader of its cluster (through the etcd API, as a test set-up). */
async function makeLeader(cluster: string, host: string): Promise<void> {
  const h = await clusterHealth(env, cluster);
  if (h.leader?.host === host) return;
  const target = h.members.find((m) => m.host === host)!;
  const hosts = config.etcd.clusters[cluster]!.members;
  const c = etcdClientFor(config, cluster, { via: 'local' });
  try {
    await c.forEndpoint(hosts.indexOf(h.leader!.host!)).moveLeader(target.id);
  } finally {
    c.close();
  }
  await waitUntil({
    what: `${host} leads ${cluster}`,
    probe: () => clusterHealth(env, cluster),
    until: (x) => x.leader?.host === host,
    timeoutMs: 10_000,
  });
}

describe('cookbook etcd.member-remove and etcd.member-add against the lab', () => {
  test("each cookbook's dry-run changes nothing (remove a follower; add a host already a member: already done)", async () => {
    const before = await snapshot();
    const remove = cli(['etcd.member-remove', 'conf2006.codfw.wmnet', '--dry-run'], 0);
    expect(remove.stdout).toContain('codfw members: conf2006.codfw.wmnet');
    expect(remove.stdout).toContain('dry-run complete: nothing was changed');
    const add = cli(['etcd.member-add', 'conf2006.codfw.wmnet', '--dry-run'], 0);
    expect(add.stdout).toContain('conf2006.codfw.wmnet is already a member of codfw');
    expect(await snapshot()).toEqual(before);
  }, 120_000);

  test('a removal whose host fails the SSH pre-flight (its host key changed) changes nothing', async () => {
    const before = await snapshot();
    const file = config.ssh.knownHosts;
    const original = readFileSync(file, 'utf8');
    const lines = original.split('\n');
    const otherKey = lines
      .find((l) => l.startsWith('conf2005.codfw.wmnet'))!
      .split(' ')
      .slice(1)
      .join(' ');
    writeFileSync(
      file,
      lines
        .map((l) => (l.startsWith('conf2006.codfw.wmnet') ? `${l.split(' ')[0]} ${otherKey}` : l))
        .join('\n'),
    );
    try {
      const r = cli(['etcd.member-remove', 'conf2006.codfw.wmnet', '-y'], 1);
      expect(out(r)).toContain('pre-flight failed, nothing was changed');
      expect(out(r)).toMatch(/host key of conf2006\.codfw\.wmnet.*CHANGED/);
    } finally {
      writeFileSync(file, original);
    }
    expect(await snapshot()).toEqual(before);
  }, 120_000);

  test('two removals of one cluster started together never both run; then a removal below the minimum is refused', async () => {
    const before = await snapshot();
    const [a, b] = await Promise.all([
      runCliAsync(['etcd.member-remove', 'conf2005.codfw.wmnet', '-y'], { GALLEY_CONFIG: labConfigPath() }),
      runCliAsync(['etcd.member-remove', 'conf2006.codfw.wmnet', '-y'], { GALLEY_CONFIG: labConfigPath() }),
    ]);
    const done = [a, b].filter((r) => r.code === 0);
    if (done.length !== 1)
      throw new Error(
        `expected exactly one removal done, got exit codes ${a.code} and ${b.code}:\n${out(a)}\n---\n${out(b)}`,
      );
    const refused = [a, b].find((r) => r.code !== 0)!;
    expect(refused.code).toBe(1);
    expect(out(refused)).toMatch(/lock etcd\.membership:codfw is held|below the minimum/);
    const removed = done[0] === a ? 'conf2005.codfw.wmnet' : 'conf2006.codfw.wmnet';
    const kept = before.codfw.filter((h) => h !== removed);
    expect(await members('codfw')).toEqual(kept);
    expect(await srvTargets(codfw.srvRecord)).toEqual(kept);
    expect(await srvTargets(rw)).toEqual(kept);

    // 2 → 1 is below the minimum (a majority of the 3 configured members): refused, nothing changed.
    const two = await snapshot();
    const other = kept.find((h) => h !== config.replication!.mirrors.codfw!.host)!;
    const below = cli(['etcd.member-remove', other, '-y'], 1);
    expect(out(below)).toContain('below the minimum of 2 for codfw');
    const planned = cli(['etcd.member-remove', other, '--allow-below-minimum', '--dry-run'], 0);
    expect(planned.stdout).toContain('codfw size: 2 → 1 (BELOW THE MINIMUM OF 2');
    expect(await snapshot()).toEqual(two);

    // The removed host's dry-run add changes nothing; the add brings it back; a re-run is already done.
    cli(['etcd.member-add', removed, '--dry-run'], 0);
    expect(await snapshot()).toEqual(two);
    const added = cli(['etcd.member-add', removed, '-y'], 0);
    expect(added.stdout).toContain('✓ etcd.member-add done');
    expect(added.stdout).toContain('ETCD_INITIAL_CLUSTER (profile::etcd::discovery): ');
    const again = cli(['etcd.member-add', removed, '-y'], 0);
    expect(again.stdout).toMatch(/Add .* to the codfw cluster\n\s+= already done/);
    expect(await members('codfw')).toEqual(before.codfw);
    expect(await srvTargets(codfw.srvRecord)).toEqual(before.srv.codfw);
    expect(await srvTargets(rw)).toEqual(before.srv.rw);
    await identicalOnEveryMember('codfw');
  }, 600_000);

  test('the leader is moved away first, then removed and added back; re-runs are already done; data identical on every member', async () => {
    const before = await snapshot();
    const host = 'conf2006.codfw.wmnet';
    await makeLeader('codfw', host);
    const removed = cli(['etcd.member-remove', host, '-y', '-t', 'T332010'], 0);
    expect(removed.stdout).toContain(`codfw leader: ${host} → `);
    const h = await clusterHealth(env, 'codfw');
    expect(h.members.map((m) => m.host)).not.toContain(host);
    expect(h.quorum).toBe(true);
    expect(h.leader?.host).not.toBe(host);
    expect(await srvTargets(codfw.srvRecord)).not.toContain(host);
    expect(await srvTargets(rw)).not.toContain(host);

    const again = cli(['etcd.member-remove', host, '-y'], 0);
    expect(again.stdout).toContain(`${host} is not a member of codfw: already removed`);
    expect(again.stdout).toMatch(/Remove .* from the codfw cluster\n\s+= already done/);

    cli(['etcd.member-add', host, '-y'], 0);
    expect((await readRemoteFile(env, host, codfw.envFile)).content).toContain(
      'ETCD_INITIAL_CLUSTER_STATE="existing"',
    );
    expect(await snapshot()).toEqual({ ...before, envFiles: (await snapshot()).envFiles });
    const tree = await identicalOnEveryMember('codfw');
    expect(tree.nodes?.length).toBeGreaterThan(0);
  }, 600_000);

  test('a member of eqiad is removed and added back, data identical on every member', async () => {
    const before = await snapshot();
    const host = 'conf1009.eqiad.wmnet';
    cli(['etcd.member-remove', host, '-y'], 0);
    expect(await members('eqiad')).toEqual(before.eqiad.filter((h) => h !== host));
    expect(await srvTargets(eqiad.srvRecord)).toEqual(before.srv.eqiad.filter((h) => h !== host));
    expect(await srvTargets(rw)).toEqual(before.srv.rw);
    cli(['etcd.member-add', host, '-y'], 0);
    expect(await members('eqiad')).toEqual(before.eqiad);
    expect(await srvTargets(eqiad.srvRecord)).toEqual(before.srv.eqiad);
    await identicalOnEveryMember('eqiad');
    await waitUntil({
      what: 'eqiad holds codfw',
      probe: () => checkReplicaHoldsSource(env, 'codfw', 'eqiad'),
      timeoutMs: 15_000,
      retryOn: () => true,
    });
  }, 600_000);
});
