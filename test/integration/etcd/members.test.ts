import { describe, expect, test } from '@jest/globals';
import { EtcdClient } from '../../../src/etcd/client.js';
import { EtcdMemberChangeError } from '../../../src/etcd/errors.js';
import { useLocalCluster } from './local-cluster.js';

const local = useLocalCluster(203, 3);

describe('etcd v2 members, stats, health and version against a real 3-member cluster', () => {
  test('the member list names every member with its peer and client URLs', async () => {
    const members = await local.etcd.members();
    expect(members.map((m) => m.name).sort()).toEqual(['m1', 'm2', 'm3']);
    for (const m of members) {
      const member = local.cluster.members.find((x) => x.name === m.name);
      expect(m.peerURLs).toEqual([member?.peerUrl]);
      expect(m.clientURLs).toEqual([member?.clientUrl]);
      expect(m.id).toMatch(/^[0-9a-f]+$/);
    }
  });

  test('exactly one member answers leader stats; the others say they are not the leader', async () => {
    const stats = await Promise.all(
      local.etcd.endpoints.map((_, i) => local.etcd.forEndpoint(i).leaderStats()),
    );
    const leaders = stats.filter((s) => s.isLeader);
    expect(leaders).toHaveLength(1);
    const leader = leaders[0]!;
    if (!leader.isLeader) throw new Error('unreachable');
    expect(Object.keys(leader.followers)).toHaveLength(2);
    const self = await Promise.all(local.etcd.endpoints.map((_, i) => local.etcd.forEndpoint(i).selfStats()));
    expect(self.filter((s) => s.state === 'StateLeader').map((s) => s.id)).toEqual([leader.leader]);
    expect(new Set(self.map((s) => s.leaderId))).toEqual(new Set([leader.leader]));
  });

  test('every member reports itself healthy, and its version', async () => {
    for (let i = 0; i < 3; i++) {
      const one = local.etcd.forEndpoint(i);
      expect(await one.health()).toEqual({ healthy: true, endpoint: local.cluster.members[i]!.clientUrl });
      expect((await one.version()).server).toMatch(/^3\.\d+\.\d+/);
    }
  });

  test('a fourth member is added, joins with state existing, serves keys, and leaves when removed; a change refused right after the join is retried', async () => {
    const m4 = local.cluster.newMember();
    const added = await local.etcd.addMember([m4.peerUrl]);
    expect(added.peerURLs).toEqual([m4.peerUrl]);
    expect(added.name).toBe('');
    await local.cluster.join(m4, local.cluster.members);
    const listed = await local.etcd.members();
    expect(listed.find((m) => m.id === added.id)).toMatchObject({ name: 'm4', clientURLs: [m4.clientUrl] });

    const viaNew = new EtcdClient({ endpoints: [{ url: m4.clientUrl }], timeoutMs: 5000 });
    await local.etcd.set('/members/probe', 'seen by m4');
    expect((await viaNew.get('/members/probe', { quorum: true })).node.value).toBe('seen by m4');
    viaNew.close();

    // For a few seconds after a join etcd refuses to add another member with a bare HTTP 500.
    const m5 = local.cluster.newMember();
    const refused = await local.etcd.addMember([m5.peerUrl], { deadlineMs: 0 }).catch((x: unknown) => x);
    expect(refused).toBeInstanceOf(EtcdMemberChangeError);
    expect(refused).toMatchObject({ httpStatus: 500 });
    expect((refused as EtcdMemberChangeError).suggestions.join(' ')).toMatch(/after a join/);
    // With a deadline, the client retries until etcd accepts.
    const retries: number[] = [];
    const added5 = await local.etcd.addMember([m5.peerUrl], {
      deadlineMs: 20_000,
      onRetry: (n) => retries.push(n),
    });
    expect(retries.length).toBeGreaterThan(0);
    expect(added5.peerURLs).toEqual([m5.peerUrl]);

    await local.etcd.removeMember(added5.id, { deadlineMs: 20_000 });
    await local.etcd.removeMember(added.id, { deadlineMs: 20_000 });
    expect(await local.cluster.waitExit(m4)).toBe(true);
    expect((await local.etcd.members()).map((m) => m.name).sort()).toEqual(['m1', 'm2', 'm3']);
  }, 90_000);

  test('peer URLs of a member are updated', async () => {
    const added = await local.etcd.addMember(['http://127.32.203.9:2380'], { deadlineMs: 15_000 });
    await local.etcd.updateMember(added.id, ['http://127.32.203.9:2390'], { deadlineMs: 15_000 });
    expect((await local.etcd.members()).find((m) => m.id === added.id)?.peerURLs).toEqual([
      'http://127.32.203.9:2390',
    ]);
    await local.etcd.removeMember(added.id, { deadlineMs: 15_000 });
    expect((await local.etcd.members()).some((m) => m.id === added.id)).toBe(false);
  }, 60_000);

  test('adding a peer URL that is already a member is refused with HTTP 409 at once', async () => {
    const e = await local.etcd.addMember([local.cluster.members[0]!.peerUrl]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EtcdMemberChangeError);
    expect(e).toMatchObject({ httpStatus: 409 });
    expect((e as Error).message).toMatch(/exists/);
    expect((e as EtcdMemberChangeError).suggestions.join(' ')).toMatch(/already a member/);
  });

  test('removing an unknown member id is refused with HTTP 404', async () => {
    await expect(local.etcd.removeMember('1234abcd')).rejects.toMatchObject({ httpStatus: 404 });
  });
});
