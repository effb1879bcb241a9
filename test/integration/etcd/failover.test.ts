import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { EtcdClient } from '../../../src/etcd/client.js';
import { EtcdAllEndpointsFailedError } from '../../../src/etcd/errors.js';
import { LocalEtcdCluster } from './local-cluster.js';

let cluster: LocalEtcdCluster;

beforeAll(async () => {
  cluster = new LocalEtcdCluster(204, 3);
  await cluster.start();
}, 60_000);

afterAll(async () => {
  await cluster?.destroy();
});

describe('fail-over between the endpoints of a real cluster', () => {
  test('with the first member stopped, reads and writes go to the next member', async () => {
    // Stop a follower, so that no election makes the next member slow to answer.
    const probe = new EtcdClient({ endpoints: cluster.clientUrls.map((url) => ({ url })), timeoutMs: 3000 });
    const stats = await Promise.all(cluster.members.map((_, i) => probe.forEndpoint(i).leaderStats()));
    probe.close();
    const followers = cluster.members.filter((_, i) => !stats[i]!.isLeader);
    const leader = cluster.members.find((_, i) => stats[i]!.isLeader)!;
    const [first, second] = followers;
    const etcd = new EtcdClient({
      endpoints: [first!, second!, leader].map((m) => ({ url: m.clientUrl })),
      timeoutMs: 3000,
    });
    expect((await etcd.set('/fo/k', 'before')).endpoint).toBe(first!.clientUrl);
    await cluster.stop(first!);
    const w = await etcd.set('/fo/k', 'after');
    expect(w.endpoint).toBe(second!.clientUrl);
    const r = await etcd.get('/fo/k', { quorum: true });
    expect(r.node.value).toBe('after');
    expect(r.endpoint).toBe(second!.clientUrl);
    etcd.close();
  }, 30_000);

  test('a client whose every endpoint is down names each one and why', async () => {
    const stopped = cluster.members.find(
      (m) => m.process?.exitCode !== null || m.process?.signalCode !== null,
    )!;
    const etcd = new EtcdClient({
      endpoints: [stopped.clientUrl, 'http://127.32.204.99:2379'].map((url) => ({ url })),
      timeoutMs: 2000,
    });
    const e = await etcd.get('/fo/k').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EtcdAllEndpointsFailedError);
    expect((e as Error).message).toContain(`${stopped.clientUrl} for GET /v2/keys/fo/k: connection refused`);
    expect((e as EtcdAllEndpointsFailedError).failures).toHaveLength(2);
    etcd.close();
  });
});
