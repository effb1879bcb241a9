import {
  membershipLockOfHost,
  membershipSafeState,
  memberOf,
  removeMemberSteps,
} from '../../src/actions/membership.js';
import { arg, defineCookbook } from '../../src/core/cookbook.js';

/**
 * "Removing a member from the cluster" of the Etcd runbook, made safe: one membership change
 * per cluster at a time, never below the minimum size or without quorum, every host checked
 * before the first change, leadership moved away first, replication re-pointed, HOST taken
 * out of every SRV record that lists it.
 */
export default defineCookbook({
  title: 'Remove a member from its etcd cluster (moving leadership and replication away first)',
  description: [
    'Pre-flight, before any change: the cluster has its quorum and stays at or above its minimum size (etcd.clusters.X.min_members, default a majority of the configured members) with a quorum; no running etcdmirror runs on HOST or writes into it; HOST, the DNS publisher and the mirror hosts answer over SSH with their known host keys, with the etcd unit and data directory present.',
    "Then: moves leadership to another healthy member if HOST leads (asked; --yes does it), points every etcdmirror reading from HOST at another member (asked), removes HOST from every SRV record that lists it (its datacenter's and the conftool one), removes the member (irreversible: asked explicitly), stops etcd on HOST, checks the cluster and prints the settings to give the site's configuration management.",
    'Re-runnable: a host that is no longer a member is reported as already done. It rejoins with etcd.member-add.',
  ].join('\n\n'),
  examples: [
    'cookbook etcd.member-remove conf2006.codfw.wmnet --dry-run',
    'cookbook etcd.member-remove conf2006.codfw.wmnet -t T332010',
    'cookbook etcd.member-remove conf2005.codfw.wmnet --allow-below-minimum -r "decommission codfw"',
  ],
  args: {
    host: arg.host({ description: 'the member to remove', positional: true }),
    'allow-below-minimum': arg.boolean({
      description:
        'accept leaving fewer members than the minimum, or too few healthy ones for a quorum (the removal still asks)',
    }),
  },
  lock: (args, ctx) => membershipLockOfHost(ctx, args.host),
  safeState: (ctx) => membershipSafeState(ctx, memberOf(ctx, ctx.args.host).cluster),
  steps: (ctx) =>
    removeMemberSteps(ctx, ctx.args.host, { allowBelowMinimum: ctx.args['allow-below-minimum'] }),
});
