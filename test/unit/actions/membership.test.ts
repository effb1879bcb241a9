import { describe, expect, test } from '@jest/globals';
import type { ClusterHealth, MemberHealth } from '../../../src/actions/etcd.js';
import {
  additionVerdict,
  initialCluster,
  membershipLockOfHost,
  mirrorUrls,
  removalVerdict,
  withEnvironment,
  withMirrorSource,
} from '../../../src/actions/membership.js';
import { parseConfig } from '../../../src/config/schema.js';
import { CheckError } from '../../../src/core/errors.js';

describe('joining a member', () => {
  test('ETCD_INITIAL_CLUSTER lists every current member and the joining one, once, sorted', () => {
    const members = [
      { name: 'conf2006.codfw.wmnet', peerURLs: ['http://10.0.0.6:2380'] },
      { name: 'conf2004.codfw.wmnet', peerURLs: ['http://10.0.0.4:2380'] },
      { name: '', peerURLs: ['http://10.0.0.5:2380'] }, // added, not started yet: the joining host itself
    ];
    expect(initialCluster(members, 'conf2005.codfw.wmnet', 'http://10.0.0.5:2380')).toBe(
      'conf2004.codfw.wmnet=http://10.0.0.4:2380,conf2005.codfw.wmnet=http://10.0.0.5:2380,conf2006.codfw.wmnet=http://10.0.0.6:2380',
    );
  });

  test('an environment file gets its variables replaced in place, or appended, other lines untouched', () => {
    const before = '# etcd\nETCD_NAME="a"\nETCD_INITIAL_CLUSTER_STATE="new"\n';
    expect(
      withEnvironment(before, {
        ETCD_INITIAL_CLUSTER_STATE: 'existing',
        ETCD_INITIAL_CLUSTER: 'a=http://x:2380',
      }),
    ).toBe(
      '# etcd\nETCD_NAME="a"\nETCD_INITIAL_CLUSTER_STATE="existing"\nETCD_INITIAL_CLUSTER="a=http://x:2380"\n',
    );
  });
});

const member = (n: number, o: Partial<MemberHealth> = {}): MemberHealth => ({
  id: `id${n}`,
  name: `conf200${n}`,
  host: `conf200${n}`,
  peerURLs: [`http://10.0.0.${n}:2380`],
  started: true,
  healthy: true,
  ...o,
});

function health(members: MemberHealth[]): ClusterHealth {
  const healthy = members.filter((m) => m.healthy).length;
  const needed = Math.floor(members.length / 2) + 1;
  return {
    cluster: 'codfw',
    members,
    leader: members.find((m) => m.healthy),
    size: members.length,
    healthy,
    needed,
    quorum: healthy >= needed,
  };
}

const peer = (n: number) => `http://10.0.0.${n}:2380`;

describe('removing a member never breaks the quorum or goes below the minimum unless allowed', () => {
  test('3 → 2 is allowed with the default minimum of 2', () => {
    expect(
      removalVerdict(health([member(4), member(5), member(6)]), 'conf2006', peer(6), {
        minimum: 2,
        allowBelowMinimum: false,
      })[0],
    ).toMatch(/3 members/);
  });

  test('2 → 1 is refused below the minimum, and allowed (with a warning) by --allow-below-minimum', () => {
    const h = health([member(4), member(5)]);
    expect(() => removalVerdict(h, 'conf2005', peer(5), { minimum: 2, allowBelowMinimum: false })).toThrow(
      /leaves 1 member, below the minimum of 2/,
    );
    expect(
      removalVerdict(h, 'conf2005', peer(5), { minimum: 2, allowBelowMinimum: true }).join('\n'),
    ).toMatch(/WARNING \(--allow-below-minimum\): removing conf2005 leaves 1 member/);
  });

  test('removing a healthy member while another is down is refused: the rest would have no quorum', () => {
    const h = health([member(4), member(5), member(6, { healthy: false, error: 'connection refused' })]);
    expect(() => removalVerdict(h, 'conf2005', peer(5), { minimum: 1, allowBelowMinimum: false })).toThrow(
      /leaves 1 healthy of 2 members: no quorum/,
    );
    // Removing the member that is down keeps the quorum.
    expect(() =>
      removalVerdict(h, 'conf2006', peer(6), { minimum: 1, allowBelowMinimum: false }),
    ).not.toThrow();
  });

  test('the last member, or a cluster without quorum, is refused even with --allow-below-minimum', () => {
    expect(() =>
      removalVerdict(health([member(4)]), 'conf2004', peer(4), { minimum: 1, allowBelowMinimum: true }),
    ).toThrow(/only member/);
    const lost = health([member(4), member(5, { healthy: false }), member(6, { healthy: false })]);
    expect(() => removalVerdict(lost, 'conf2006', peer(6), { minimum: 1, allowBelowMinimum: true })).toThrow(
      CheckError,
    );
  });

  test('a host that is no longer a member is reported as already removed', () => {
    expect(
      removalVerdict(health([member(4), member(5)]), 'conf2006', peer(6), {
        minimum: 2,
        allowBelowMinimum: false,
      })[0],
    ).toMatch(/already removed/);
  });
});

describe('adding a member warns when the quorum is at risk until it has started', () => {
  test('1 → 2: no quorum at all until the new member has started', () => {
    expect(additionVerdict(health([member(4)]), 'conf2005', peer(5)).join('\n')).toMatch(
      /NO quorum until conf2005 has started/,
    );
  });

  test('2 → 3: losing any member before it has started loses the quorum', () => {
    expect(additionVerdict(health([member(4), member(5)]), 'conf2006', peer(6)).join('\n')).toMatch(
      /losing any member loses the quorum/,
    );
  });

  test('4 → 5 has no warning; a started member is already there', () => {
    expect(
      additionVerdict(health([member(1), member(2), member(3), member(4)]), 'conf2005', peer(5)).join('\n'),
    ).not.toMatch(/WARNING/);
    expect(additionVerdict(health([member(4), member(5)]), 'conf2005', peer(5))[0]).toMatch(
      /already a member/,
    );
  });

  test('a cluster without quorum takes no member', () => {
    expect(() =>
      additionVerdict(health([member(4), member(5, { healthy: false })]), 'conf2006', peer(6)),
    ).toThrow(/no quorum/);
  });
});

describe('etcdmirror unit files', () => {
  const unit =
    '[Service]\nExecStart=/usr/bin/node etcdmirror.js --src-prefix / --dst-prefix / --listen 10.0.1.7:8000 http://10.0.2.4:2379 http://10.0.1.7:2379\nTimeoutStopSec=10\n';

  test('the source and destination are the two URLs at the end of ExecStart', () => {
    expect(mirrorUrls(/ExecStart=(.*)/.exec(unit)![1]!)).toEqual({
      source: 'http://10.0.2.4:2379',
      destination: 'http://10.0.1.7:2379',
    });
    expect(mirrorUrls('/usr/bin/etcdmirror --listen 1.2.3.4:8000')).toBeUndefined();
  });

  test('re-pointing replaces only the source URL, only if it is the expected one', () => {
    expect(withMirrorSource(unit, 'http://10.0.2.4:2379', 'http://10.0.2.6:2379')).toBe(
      unit.replace('http://10.0.2.4:2379 ', 'http://10.0.2.6:2379 '),
    );
    expect(withMirrorSource(unit, 'http://10.0.2.5:2379', 'http://10.0.2.6:2379')).toBe(unit);
  });
});

describe('the membership lock', () => {
  const { config } = parseConfig(
    {
      datacenters: ['codfw'],
      hosts: {
        a: { address: '10.0.0.1', datacenter: 'codfw' },
        b: { address: '10.0.0.2', datacenter: 'codfw' },
        c: { address: '10.0.0.3', datacenter: 'codfw' },
      },
      ssh: { known_hosts: '/dev/null' },
      etcd: { clusters: { codfw: { members: ['a', 'b', 'c'], srv_record: '_etcd._tcp.codfw.wmnet' } } },
    },
    'test.yaml',
  );

  test('is one per cluster: two hosts of one cluster share it', () => {
    const ctx = { config: () => config! };
    expect(membershipLockOfHost(ctx, 'a')).toEqual({ name: 'etcd.membership:codfw' });
    expect(membershipLockOfHost(ctx, 'c')).toEqual(membershipLockOfHost(ctx, 'a'));
  });

  test('the minimum size defaults to a majority of the configured members', () => {
    expect(config!.etcd.clusters.codfw!.minMembers).toBe(2);
  });
});
