import {
  addMemberSteps,
  membershipLockOfHost,
  membershipSafeState,
  memberOf,
} from '../../src/actions/membership.js';
import { arg, defineCookbook } from '../../src/core/cookbook.js';

/**
 * "Adding a new member to the cluster" of the Etcd runbook (and the second half of a
 * reimage): add the member, start etcd on it with an empty data directory and
 * ETCD_INITIAL_CLUSTER_STATE=existing, check the cluster, put it back in the SRV records.
 */
export default defineCookbook({
  title: 'Add a host to its etcd cluster (empty data, state existing), then to the SRV records',
  description: [
    'Pre-flight, before any change: the cluster has its quorum (a warning says when the add puts it at risk until HOST has started: a cluster of 1 or 2 members); HOST and the DNS publisher answer over SSH with their known host keys, with the etcd unit and data directory present.',
    'Then: stops etcd on HOST and empties its data directory (irreversible), adds the member, writes ETCD_INITIAL_CLUSTER and ETCD_INITIAL_CLUSTER_STATE="existing" into its environment file, starts etcd, checks the cluster is healthy with it, adds HOST to the SRV records of its cluster (and to the conftool one if its cluster is the master), and prints the settings to give the site\'s configuration management.',
    'Re-runnable: a host that is already a started member is reported as already done (a missing SRV entry is still added).',
  ].join('\n\n'),
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
  lock: (args, ctx) => membershipLockOfHost(ctx, args.host),
  safeState: (ctx) => membershipSafeState(ctx, memberOf(ctx, ctx.args.host).cluster),
  steps: (ctx) => addMemberSteps(ctx, ctx.args.host),
});
