import { describe, expect, test } from '@jest/globals';
import {
  type ClusterStatus,
  formatReplication,
  type ReplicationStatus,
  statusProblems,
} from '../../../src/inspect/etcd.js';

const member = (host: string, o: { healthy?: boolean; leader?: boolean; down?: boolean } = {}) => ({
  host,
  healthy: o.down ? false : (o.healthy ?? true),
  isLeader: o.leader ?? false,
  ...(o.down ? { error: 'connection refused' } : {}),
});

function cluster(name: string, members: ReturnType<typeof member>[]): ClusterStatus {
  const leader = members.find((m) => m.isLeader)?.host;
  const healthyCount = members.filter((m) => m.healthy).length;
  return {
    cluster: name,
    datacenter: name,
    members,
    leader,
    proxy: 'read-write',
    healthy: false,
    hasQuorum: leader !== undefined && healthyCount * 2 > members.length,
  };
}

const healthy = cluster('codfw', [member('a', { leader: true }), member('b'), member('c')]);
const oneDown = cluster('eqiad', [member('d', { leader: true }), member('e'), member('f', { down: true })]);
const noQuorum = cluster('eqiad', [member('d', { down: true }), member('e'), member('f', { down: true })]);

const mirror = { datacenter: 'eqiad', host: 'conf1007.eqiad.wmnet', unit: 'etcdmirror-conftool-eqiad-wmnet' };
const replicating: ReplicationStatus = {
  master: 'codfw',
  mirrors: [{ ...mirror, running: true, lag: 0 }],
  direction: 'codfw → eqiad',
};
const stopped: ReplicationStatus = {
  master: 'codfw',
  mirrors: [
    {
      ...mirror,
      running: false,
      error: 'not running (connection refused)',
      stoppedBecause:
        'inconsistency at /conftool/a (source event set at index 812): expected value "1", found value "2"',
    },
  ],
};

describe('etcd.status fails when a cluster has no quorum or replication is not running, saying why', () => {
  test('healthy clusters (one member down is still a quorum) and one-way replication are no problem', () => {
    expect(statusProblems([healthy, oneDown], replicating)).toEqual([]);
    expect(statusProblems([healthy], undefined)).toEqual([]);
  });

  test('a cluster without a leader or a healthy majority is named', () => {
    expect(statusProblems([healthy, noQuorum], replicating)).toEqual([
      'cluster eqiad (eqiad) has no quorum (no leader)',
    ]);
  });

  test('replication that is not running is a problem, with the reason the mirror gave', () => {
    expect(statusProblems([healthy], stopped)).toEqual([
      'replication is not running: inconsistency at /conftool/a (source event set at index 812): expected value "1", found value "2"',
    ]);
    expect(formatReplication(stopped)).toContain(
      'etcdmirror-conftool-eqiad-wmnet on conf1007.eqiad.wmnet stopped: inconsistency at /conftool/a (source event set at index 812)',
    );
  });

  test('replication in both directions is a problem too', () => {
    const both: ReplicationStatus = {
      master: 'codfw',
      mirrors: [
        { ...mirror, running: true },
        { ...mirror, datacenter: 'codfw', running: true },
      ],
    };
    expect(statusProblems([healthy], both)).toEqual([
      'replication runs in both directions (into eqiad, into codfw)',
    ]);
  });
});
