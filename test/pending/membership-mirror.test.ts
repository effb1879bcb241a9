/* eslint-disable @typescript-eslint/no-unused-vars -- a copy of the membership e2e helpers, some unused by this one pending case */
/**
 * PENDING (not in `npm test`; run with `npm run test:pending`): the lab's mirrors now read from
 * every member of their source cluster, and re-pointing such a mirror away from one member does
 * not undo cleanly yet. Kept here, failing, until etcd.member-remove handles member lists.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { clusterHealth, mirrorUses } from '../../src/actions/membership.js';
import { mutateOn, readRemoteFile } from '../../src/actions/remote.js';
import { checkReplicaHoldsSource, checkReplicationFlows } from '../../src/actions/replication.js';
import { observeRRset } from '../../src/dns/index.js';
import { etcdClientFor, type EtcdNode } from '../../src/etcd/index.js';
import { argvCommand } from '../../src/ssh/command.js';
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
const mirror = config.replication!.mirrors.eqiad!;

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
  test("removing the mirror's destination is refused; removing its source re-points it, replication still running", async () => {
    const before = await snapshot();
    const refused = cli(['etcd.member-remove', mirror.host, '-y'], 1);
    expect(out(refused)).toContain(`runs on ${mirror.host} and writes into`);
    expect(await snapshot()).toEqual(before);

    const unitBefore = (await mirrorUses(env)).find((m) => m.datacenter === 'eqiad')!;
    const source = unitBefore.source.host!;
    try {
      const r = cli(['etcd.member-remove', source, '-y'], 0);
      expect(r.stdout).toContain(`point ${mirror.unit} at`);
      const now = (await mirrorUses(env)).find((m) => m.datacenter === 'eqiad')!;
      expect(now.active).toBe(true);
      expect(now.source.host).not.toBe(source);
      expect(await members('codfw')).not.toContain(source);
      await checkReplicationFlows(env, 'codfw', 'eqiad', 'membership-test');
      await waitUntil({
        what: 'eqiad holds codfw',
        probe: () => checkReplicaHoldsSource(env, 'codfw', 'eqiad'),
        timeoutMs: 15_000,
        retryOn: () => true,
      });
      cli(['etcd.member-add', source, '-y'], 0);
    } finally {
      // Put the lab's mirror back as it was (reading from its first source member).
      const unit = await readRemoteFile(env, mirror.host, unitBefore.file);
      const now = (await mirrorUses(env)).find((m) => m.datacenter === 'eqiad')!;
      if (now.source.url !== unitBefore.source.url) {
        const content = unit.content!.replace(now.source.url, unitBefore.source.url);
        await mutateOn(
          env,
          mirror.host,
          argvCommand([
            'sh',
            '-c',
            'cat > "$1" && systemctl restart "$2"',
            'w',
            unitBefore.file,
            mirror.unit,
          ]),
          { stdin: content },
        );
      }
    }
    await checkReplicationFlows(env, 'codfw', 'eqiad', 'membership-test');
    expect(await members('codfw')).toEqual(before.codfw);
    expect(await srvTargets(rw)).toEqual(before.srv.rw);
    await identicalOnEveryMember('codfw');
  }, 600_000);
});
