import { arg, check, defineCookbook } from '../../src/core/cookbook.js';
import { CheckError } from '../../src/core/errors.js';
import {
  type ClusterStatus,
  clusterStatuses,
  formatClusters,
  formatReplication,
  formatSrv,
  type ReplicationStatus,
  replicationStatus,
  srvStatus,
  statusProblems,
} from '../../src/inspect/etcd.js';

/**
 * The read-only overview an SRE looks at before and after every etcd procedure: for each
 * datacenter the members with health and leader, the etcd index and whether the proxy is
 * read-only; which way replication runs and its lag; the SRV records clients use, on every
 * authoritative server, with their TTLs. Anything down is named, not fatal; at the end it
 * fails (exit 1) if a cluster has no quorum or replication is not running, saying why.
 */
export default defineCookbook({
  title: 'Show the etcd clusters: members, leader, index, read-only state, replication, SRV records',
  description:
    'Read-only. Answers within a few seconds even when a member, a mirror or a DNS server is down, and names what is; a stopped mirror is shown with the reason it stopped (the inconsistency or history gap it reported). --json gives the same facts for scripts. ' +
    'Exit codes: 0 every cluster has quorum and replication runs one way; 1 a cluster has no quorum (no leader, or no healthy majority) or replication is not running (or runs both ways); 2 bad usage.',
  examples: [
    'cookbook etcd.status',
    'cookbook etcd.status --datacenter codfw',
    'cookbook etcd.status --json',
  ],
  args: {
    datacenter: arg.datacenter({ description: 'show only this datacenter', required: false }),
  },
  steps: (ctx) => {
    let clusters: ClusterStatus[] = [];
    let replication: ReplicationStatus | undefined;
    return [
      check('etcd clusters', async () => {
        clusters = await clusterStatuses(ctx, ctx.args.datacenter);
        ctx.report('clusters', clusters);
        return formatClusters(clusters);
      }),
      check('Replication (etcdmirror)', async () => {
        replication = await replicationStatus(ctx.config(), ctx);
        ctx.report('replication', replication);
        return formatReplication(replication);
      }),
      check('SRV records on every authoritative server', async () => {
        const srv = await srvStatus(ctx.config(), ctx);
        ctx.report('srv', srv);
        return formatSrv(srv);
      }),
      check('Quorum and replication', async () => {
        const problems = statusProblems(clusters, replication);
        ctx.report('problems', problems);
        if (problems.length) {
          throw new CheckError(problems.join('; '), {
            suggestions: [
              "a cluster without quorum: start its stopped members (named above); replication: see the mirror's reason above (an inconsistency needs a full reload: cookbook etcd.replication-reload)",
            ],
          });
        }
        return `every cluster has quorum; replication ${replication ? `runs ${replication.direction}` : 'is not configured'}`;
      }),
    ];
  },
});
