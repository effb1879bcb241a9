import { afterAll, describe, expect, test } from '@jest/globals';
import { readMembers } from '../../src/actions/etcd.js';
import { readRemoteFile } from '../../src/actions/remote.js';
import { etcdClientFor } from '../../src/etcd/index.js';
import { observeRRset } from '../../src/dns/index.js';
import { labEnv } from '../integration/actions/harness.js';
import { labConfig, labConfigPath } from '../integration/lab.js';
import { runCli } from '../support/cli.js';

const config = labConfig();
const env = labEnv(config);
afterAll(() => env.close());
const cli = (args: string[]) => runCli(args, { GALLEY_CONFIG: labConfigPath() });
const srvTargets = async () =>
  ((await observeRRset(config, config.etcd.clusters.codfw!.srvRecord, 'SRV')).records ?? [])
    .map((r) => (typeof r.data === 'object' && 'target' in r.data ? r.data.target : ''))
    .sort();

async function codfw() {
  const { members } = await readMembers(env, 'codfw');
  const self = await etcdClientFor(config, 'codfw', { via: 'local' }).selfStats();
  return {
    names: members.map((m) => m.name).sort(),
    leader: members.find((m) => m.id === self.leaderId)?.name,
  };
}

describe('cookbook etcd.member-remove and etcd.member-add against the lab', () => {
  test('removing the leader is refused, changing nothing', async () => {
    const { leader, names } = await codfw();
    const r = cli(['etcd.member-remove', leader!, '-y']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${leader} is the leader of codfw`);
    expect((await codfw()).names).toEqual(names);
    expect(await srvTargets()).toEqual(names);
  });

  test('a follower is removed (cluster healthy with 2), then added back with empty data (healthy with 3, serving the keys)', async () => {
    const { leader, names } = await codfw();
    // Not the leader, and not the first member: the lab's etcdmirror reads codfw from it.
    const host = names.find((n) => n !== leader && n !== config.etcd.clusters.codfw!.members[0])!;
    const dry = cli(['etcd.member-remove', host, '--dry-run']);
    expect(dry.code).toBe(0);
    expect((await codfw()).names).toEqual(names);

    const removed = cli(['etcd.member-remove', host, '-y', '-t', 'T332010']);
    expect(removed.stdout).toContain('✓ etcd.member-remove done');
    expect((await codfw()).names).toEqual(names.filter((n) => n !== host));
    expect(await srvTargets()).toEqual(names.filter((n) => n !== host));

    const added = cli(['etcd.member-add', host, '-y', '-t', 'T332010']);
    expect(added.stdout).toContain('✓ etcd.member-add done');
    expect((await readRemoteFile(env, host, '/etc/default/etcd')).content).toContain(
      'ETCD_INITIAL_CLUSTER_STATE="existing"',
    );
    expect((await codfw()).names).toEqual(names);
    expect(await srvTargets()).toEqual(names);
    const rejoined = etcdClientFor(config, 'codfw', { via: 'local', members: [host] });
    expect(
      (await rejoined.get('/conftool/v1/pools', { recursive: true })).node.nodes?.length,
    ).toBeGreaterThan(0);
    rejoined.close();
  }, 120_000);
});
