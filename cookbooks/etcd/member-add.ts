import { setRecordSet } from '../../src/actions/dns.js';
import { addMember, readMembers } from '../../src/actions/etcd.js';
import {
  checkClusterHealthy,
  initialCluster,
  memberOf,
  membershipLock,
  withEnvironment,
} from '../../src/actions/membership.js';
import { ensureService, readRemoteFile, wipeDirectory, writeRemoteFile } from '../../src/actions/remote.js';
import { arg, check, defineCookbook, step } from '../../src/core/cookbook.js';
import { CheckError } from '../../src/core/errors.js';
import { observeRRset } from '../../src/dns/index.js';

/**
 * "Adding a new member to the cluster" of the Etcd runbook (and the second half of a
 * reimage): add the member, start etcd on it with an empty data directory and
 * ETCD_INITIAL_CLUSTER_STATE=existing, check the cluster, put it back in the SRV record.
 */
export default defineCookbook({
  title: 'Add a host to its etcd cluster (empty data, state existing), then to the SRV record',
  description:
    'Checks the cluster is healthy and HOST is not a member, stops etcd on HOST and empties its data directory (irreversible), adds the member, writes ETCD_INITIAL_CLUSTER and ETCD_INITIAL_CLUSTER_STATE="existing" into its environment file, starts etcd, checks the cluster is healthy with it, and adds HOST to the SRV record clients use.',
  examples: [
    'cookbook etcd.member-add conf2006.codfw.wmnet --dry-run',
    'cookbook etcd.member-add conf2006.codfw.wmnet -t T332010',
  ],
  args: {
    host: arg.host({
      description: 'the host to add (configured in etcd.clusters.*.members)',
      positional: true,
    }),
  },
  lock: (args) => membershipLock(args.host),
  steps: (ctx) => {
    const { host } = ctx.args;
    const { cluster, config: c, peerUrl } = memberOf(ctx, host);
    return [
      check(`${cluster} is healthy and ${host} is not a member`, async () => {
        const { members } = await readMembers(ctx, cluster);
        if (members.some((m) => m.peerURLs.includes(peerUrl)))
          throw new CheckError(`${host} (${peerUrl}) is already a member of ${cluster}`);
        return checkClusterHealthy(ctx, cluster);
      }),
      step(`Stop etcd on ${host}`, [ensureService({ host, unit: c.unit, state: 'inactive' })]),
      step(`Empty the data directory of ${host}`, [wipeDirectory({ host, path: c.dataDir })]),
      step(`Add ${host} to the ${cluster} cluster`, [addMember({ cluster, host, peerUrl })]),
      step(`Configure etcd on ${host} to join the existing cluster`, async () => {
        const { members } = await readMembers(ctx, cluster);
        const file = await readRemoteFile(ctx, host, c.envFile);
        const content = withEnvironment(file.content ?? '', {
          ETCD_INITIAL_CLUSTER: initialCluster(members, host, peerUrl),
          ETCD_INITIAL_CLUSTER_STATE: 'existing',
        });
        return [writeRemoteFile({ host, path: c.envFile, content })];
      }),
      step(`Start etcd on ${host}`, [ensureService({ host, unit: c.unit, state: 'active' })]),
      check(`${cluster} is healthy with ${host}`, () => checkClusterHealthy(ctx, cluster), {
        timeoutMs: 30_000,
      }),
      step(`Add ${host} to ${c.srvRecord}`, async () => {
        const current = (await observeRRset(ctx.config(), c.srvRecord, 'SRV')).records ?? [];
        if (current.some((r) => typeof r.data === 'object' && 'target' in r.data && r.data.target === host))
          return [];
        const ttl = current[0]?.ttl ?? 300;
        return [
          setRecordSet({
            name: c.srvRecord,
            type: 'SRV',
            records: [...current, { ttl, data: { priority: 0, weight: 1, port: c.proxyPort, target: host } }],
          }),
        ];
      }),
    ];
  },
});
