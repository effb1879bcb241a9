import {
  clientsHomeCheck,
  moveClientsSteps,
  moveLeaderStep,
  nothingUsesCheck,
  reimagePreflight,
  reimageSafeState,
  reimageSteps,
  sameDataCheck,
} from '../../src/actions/reimage.js';
import { membershipLockOfHost } from '../../src/actions/membership.js';
import { arg, defineCookbook } from '../../src/core/cookbook.js';

/**
 * "Reimage cluster" of the Etcd runbook, for one conf host: move its datacenter's clients to
 * the other cluster, check nothing uses the host, reimage it, remove the old member and add it
 * back (etcd.member-remove and etcd.member-add, run as child cookbooks), check the cluster,
 * and move the clients back.
 */
export default defineCookbook({
  title:
    'Reimage one etcd member: move its clients away, reimage, remove and re-add the member, move them back',
  description: [
    "Pre-flight, before any change: HOST is a healthy member of a healthy cluster, the other datacenter's cluster is healthy (it takes the clients meanwhile), no running etcdmirror runs on HOST, and every host the run touches answers over SSH with its known host key; the plan shows the clients and the connections found.",
    "Then: moves leadership away from HOST if it leads; points the datacenter's client SRV record at the other cluster (verified on every authoritative server) and restarts the clients that discover etcd through it in batches (clients.restart_batch_size, clients.restart_batch_sleep); re-points and restarts the configured clients; keeps etcdmirror off HOST; checks nothing uses etcd on HOST any more (connections to its proxy, its access log), naming what still does.",
    'Then the point of no return: reimages HOST with reimage.command (irreversible: asked explicitly); its new host key is learned only from ssh.host_key_source. From here a failure stops (no rollback) and `cookbook resume RUN` finishes the job. Runs etcd.member-remove HOST and etcd.member-add HOST (empty data, state existing), checks every member is healthy with the same data, and moves every client and etcdmirror back.',
    'Before the reimage, a failure rolls everything back: every client and record where it was.',
  ].join('\n\n'),
  examples: [
    'cookbook etcd.reimage conf2004.codfw.wmnet --dry-run',
    'cookbook etcd.reimage conf2004.codfw.wmnet -t T332010',
    'cookbook etcd.reimage conf2004.codfw.wmnet --yes -r "reimage to bookworm"',
  ],
  args: {
    host: arg.host({ description: 'the member to reimage', positional: true }),
  },
  // The cluster's membership lock: never with another membership change of it, nor a switchover.
  lock: (args, ctx) => membershipLockOfHost(ctx, args.host),
  safeState: (ctx) => reimageSafeState(ctx, ctx.args.host),
  steps: (ctx) => {
    const host = ctx.args.host;
    return [
      reimagePreflight(ctx, host),
      moveLeaderStep(ctx, host),
      ...moveClientsSteps(ctx, host, { back: false }),
      nothingUsesCheck(ctx, host),
      ...reimageSteps(ctx, host),
      ctx.runCookbook('etcd.member-remove', { host }),
      ctx.runCookbook('etcd.member-add', { host }),
      sameDataCheck(ctx, host),
      ...moveClientsSteps(ctx, host, { back: true }),
      clientsHomeCheck(ctx, host),
    ];
  },
});
