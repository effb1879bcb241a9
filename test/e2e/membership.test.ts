import { afterAll, describe, expect, test } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { alertmanagerOf, hostAlertMatchers } from '../../src/actions/alerting.js';
import { clusterHealth, mirrorUses } from '../../src/actions/membership.js';
import { mutateOn, readRemoteFile } from '../../src/actions/remote.js';
import { checkReplicaHoldsSource, checkReplicationFlows } from '../../src/actions/replication.js';
import { etcdClientFor } from '../../src/etcd/index.js';
import { argvCommand } from '../../src/ssh/command.js';
import { waitUntil } from '../../src/util/wait.js';
import { labEnv } from '../integration/actions/harness.js';
import { labConfig, labConfigPath } from '../integration/lab.js';
import { runCliAsync } from '../support/cli.js';
import {
  identicalOnEveryMember as identicalOn,
  labCli,
  out,
  srvTargets as srvTargetsOf,
} from '../support/lab-views.js';

const config = labConfig();
const env = labEnv(config);
afterAll(() => env.close());
const cli = labCli;
const srvTargets = (name: string) => srvTargetsOf(config, name);
const codfw = config.etcd.clusters.codfw!;
const eqiad = config.etcd.clusters.eqiad!;
const rw = config.replication!.rwSrvRecord;
const mirror = config.replication!.mirrors.eqiad!;

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
const identicalOnEveryMember = async (cluster: string) => (await identicalOn(config, cluster)).tree;

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
    // The host's alerts stay silenced while it is out (Alertmanager's API), until etcd.member-add.
    const silencesOf = async () =>
      (await alertmanagerOf(env).listSilences()).filter(
        (x) => x.comment.includes(`[galley:host ${host}]`) && x.state !== 'expired',
      );
    expect(await silencesOf()).toEqual([
      expect.objectContaining({
        state: 'active',
        comment: expect.stringContaining(`etcd.member-remove ${host} (until etcd.member-add) - T332010`),
        matchers: [expect.objectContaining({ ...hostAlertMatchers(host)[0]!, isEqual: true })],
      }),
    ]);

    const again = cli(['etcd.member-remove', host, '-y'], 0);
    expect(again.stdout).toContain(`${host} is not a member of codfw: already removed`);
    expect(again.stdout).toMatch(/Remove .* from the codfw cluster\n\s+= already done/);

    const added = cli(['etcd.member-add', host, '-y'], 0);
    expect(added.stdout).toMatch(/No alert fires for \S+[\s\S]*Remove the silence of \S+ alerts/);
    expect(await silencesOf()).toEqual([]);
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

describe("cookbook etcd.member-remove and the lab's etcdmirror (codfw → eqiad)", () => {
  /** The eqiad mirror's unit, as its unit file says it runs. */
  const eqiadMirror = async () => (await mirrorUses(env)).find((m) => m.datacenter === 'eqiad')!;
  /** Writes the mirror's unit file and restarts it (a test set-up, or putting the lab back). */
  async function writeMirrorUnit(file: string, content: string): Promise<void> {
    await mutateOn(
      env,
      mirror.host,
      argvCommand([
        'sh',
        '-c',
        'cat > "$1" && systemctl daemon-reload && systemctl restart "$2"',
        'w',
        file,
        mirror.unit,
      ]),
      { stdin: content },
    );
  }
  const eqiadHoldsCodfw = () =>
    waitUntil({
      what: 'eqiad holds codfw',
      probe: () => checkReplicaHoldsSource(env, 'codfw', 'eqiad'),
      timeoutMs: 15_000,
      retryOn: () => true,
    });

  test("removing the mirror's host is refused and changes nothing", async () => {
    const before = await snapshot();
    const refused = cli(['etcd.member-remove', mirror.host, '-y'], 1);
    expect(out(refused)).toContain(`runs on ${mirror.host} and writes into`);
    expect(await snapshot()).toEqual(before);
  }, 120_000);

  test('removing one member of the list the mirror reads from leaves it replicating from the others; added back, as before', async () => {
    const before = await snapshot();
    const unit = await eqiadMirror();
    expect(unit.sources.length).toBeGreaterThan(1);
    const first = unit.source.host!;
    const r = cli(['etcd.member-remove', first, '-y'], 0);
    expect(r.stdout).toContain('goes on with the others');
    expect(r.stdout).not.toContain(`point ${mirror.unit} at`);
    expect(await members('codfw')).not.toContain(first);
    const during = await eqiadMirror();
    expect(during.active).toBe(true);
    expect(during.sources).toEqual(unit.sources);
    await checkReplicationFlows(env, 'codfw', 'eqiad', 'membership-test');
    await eqiadHoldsCodfw();
    cli(['etcd.member-add', first, '-y'], 0);
    await checkReplicationFlows(env, 'codfw', 'eqiad', 'membership-test');
    expect(await members('codfw')).toEqual(before.codfw);
    expect(await srvTargets(rw)).toEqual(before.srv.rw);
    await identicalOnEveryMember('codfw');
  }, 600_000);

  test('a mirror reading from the removed member alone is re-pointed at another, replication still running', async () => {
    const unit = await eqiadMirror();
    const original = (await readRemoteFile(env, mirror.host, unit.file)).content!;
    const only = unit.sources[0]!;
    // Set-up: the mirror reads from one member only (as a production unit may).
    await writeMirrorUnit(unit.file, original.replace(unit.sources.map((x) => x.url).join(','), only.url));
    try {
      expect((await eqiadMirror()).sources).toEqual([only]);
      const r = cli(['etcd.member-remove', only.host!, '-y'], 0);
      expect(r.stdout).toContain(`point ${mirror.unit} at`);
      const now = await eqiadMirror();
      expect(now.active).toBe(true);
      expect(now.sources).toHaveLength(1);
      expect(now.source.host).not.toBe(only.host);
      expect(await members('codfw')).not.toContain(only.host);
      await checkReplicationFlows(env, 'codfw', 'eqiad', 'membership-test');
      await eqiadHoldsCodfw();
      cli(['etcd.member-add', only.host!, '-y'], 0);
    } finally {
      await writeMirrorUnit(unit.file, original);
    }
    await checkReplicationFlows(env, 'codfw', 'eqiad', 'membership-test');
    expect((await eqiadMirror()).sources).toEqual(unit.sources);
    await identicalOnEveryMember('codfw');
  }, 600_000);
});
