import { readFileSync } from 'node:fs';
import { describe, expect, jest, test } from '@jest/globals';
import type { GalleyConfig } from '../../../src/config/schema.js';
import { type EtcdClient, etcdClientForUrl } from '../../../src/etcd/index.js';
import { labConfig } from '../lab.js';
import {
  httpGet,
  recordedIndex,
  startEtcdPair,
  startMirror,
  stopMirror,
  valueOf,
  waitFor,
  write,
} from './helpers.js';

jest.setTimeout(60_000);

/** The local client URL of a datacenter's first member. */
function localClient(cfg: GalleyConfig, dc: string): EtcdClient {
  const cluster = Object.values(cfg.etcd.clusters).find((c) => c.datacenter === dc)!;
  const host = cfg.hosts[cluster.members[0]!]!;
  return etcdClientForUrl(`${cluster.clientScheme}://${host.address}:${cluster.clientPort}`, {
    timeoutMs: 10_000,
    maxSockets: 8,
  });
}

describe('etcdmirror in the lab', () => {
  test('lab up replicates the master datacenter into the replica, skipping lock keys, with /lag and /metrics', async () => {
    const cfg = labConfig();
    const replication = cfg.replication!;
    const replica = cfg.datacenters.find((dc) => dc !== replication.master)!;
    const mirror = replication.mirrors[replica]!;
    const master = localClient(cfg, replication.master);
    const replicaClient = localClient(cfg, replica);
    try {
      const tag = `${process.pid}-${Date.now()}`;
      await write(master, 'PUT', `${cfg.etcd.lockPrefix}/mirror-test-${tag}`, { value: 'lock' });
      const index = await write(master, 'PUT', `/galley-test/mirror/${tag}`, { value: 'replicated' });
      await waitFor(
        'the key to reach the replica',
        async () => (await valueOf(replicaClient, `/galley-test/mirror/${tag}`)) === 'replicated',
      );
      expect(await valueOf(replicaClient, `${cfg.etcd.lockPrefix}/mirror-test-${tag}`)).toBeUndefined();
      await waitFor(
        'the index key to record the write',
        async () => (await recordedIndex(replicaClient)) >= index,
      );
      const metrics = await httpGet(mirror.metricsUrl);
      expect(metrics.status).toBe(200);
      expect(metrics.text).toContain('etcdmirror_up 1');
      expect(metrics.text).toMatch(/etcdmirror_events_applied_total\{action="set"\} [1-9]/);
      const lag = await httpGet(mirror.metricsUrl.replace(/\/metrics$/, '/lag'));
      expect(Number(lag.text)).toBeGreaterThanOrEqual(0);
      await write(master, 'DELETE', `/galley-test/mirror/${tag}`);
      await write(master, 'DELETE', `${cfg.etcd.lockPrefix}/mirror-test-${tag}`);
    } finally {
      master.close();
      replicaClient.close();
    }
  });

  test('it reads the source through the TLS and basic-auth proxy, with the password from a file that never shows in ps or logs', async () => {
    const cfg = labConfig();
    const replication = cfg.replication!;
    const cluster = Object.values(cfg.etcd.clusters).find((c) => c.datacenter === replication.master)!;
    const host = cfg.hosts[cluster.members[0]!]!;
    const credentials = cfg.etcd.credentials!;
    const passwordFile = /^file (.*)$/.exec(credentials.password.origin)![1]!;
    const password = readFileSync(passwordFile, 'utf8').trim();
    const pair = await startEtcdPair(4);
    const master = localClient(cfg, replication.master);
    const tag = `${process.pid}-${Date.now()}`;
    const m = startMirror([
      '--reload',
      '--src-prefix',
      `/galley-test/tls-${tag}`,
      '--dst-prefix',
      '/copy',
      '--strip',
      '--listen',
      'off',
      '--password-file',
      passwordFile,
      '--ca-file',
      cfg.etcd.caFile!,
      `https://${credentials.username}@${host.address}:${cluster.proxyPort}`,
      pair.dst.url,
    ]);
    try {
      await waitFor('replication to start', () => m.log().includes('Starting replication at'));
      await write(master, 'PUT', `/galley-test/tls-${tag}/key`, { value: 'through the proxy' });
      await waitFor(
        'the key to be replicated',
        async () => (await valueOf(pair.dst.client, '/copy/key')) === 'through the proxy',
      );
      const cmdline = readFileSync(`/proc/${m.proc.pid}/cmdline`, 'utf8');
      expect(cmdline).not.toContain(password);
      expect(m.log()).not.toContain(password);
      expect(await stopMirror(m)).toBe(0);
    } finally {
      if (m.proc.exitCode === null) m.proc.kill('SIGKILL');
      await write(master, 'DELETE', `/galley-test/tls-${tag}`, { recursive: 'true' }).catch(() => 0);
      master.close();
      await pair.stop();
    }
  });
});
