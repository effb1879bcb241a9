import { arg, check, defineCookbook } from '../../src/core/cookbook.js';
import {
  clusterStatuses,
  formatClusters,
  formatReplication,
  formatSrv,
  replicationStatus,
  srvStatus,
} from '../../src/inspect/etcd.js';

/**
 * The read-only overview an SRE looks at before and after every etcd procedure: for each
 * datacenter the members with health and leader, the etcd index and whether the proxy is
 * read-only; which way replication runs and its lag; the SRV records clients use, on every
 * authoritative server, with their TTLs. Anything down is named, not fatal.
 */
export default defineCookbook({
  title: 'Show the etcd clusters: members, leader, index, read-only state, replication, SRV records',
  description:
    'Read-only. Answers within a few seconds even when a member, a mirror or a DNS server is down, and names what is. --json gives the same facts for scripts.',
  examples: [
    'cookbook etcd.status',
    'cookbook etcd.status --datacenter codfw',
    'cookbook etcd.status --json',
  ],
  args: {
    datacenter: arg.datacenter({ description: 'show only this datacenter', required: false }),
  },
  steps: (ctx) => [
    check('etcd clusters', async () => {
      const clusters = await clusterStatuses(ctx, ctx.args.datacenter);
      ctx.report('clusters', clusters);
      return formatClusters(clusters);
    }),
    check('Replication (etcdmirror)', async () => {
      const replication = await replicationStatus(ctx.config(), ctx);
      ctx.report('replication', replication);
      return formatReplication(replication);
    }),
    check('SRV records on every authoritative server', async () => {
      const srv = await srvStatus(ctx.config(), ctx);
      ctx.report('srv', srv);
      return formatSrv(srv);
    }),
  ],
});
