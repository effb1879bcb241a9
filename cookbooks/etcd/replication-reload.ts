import { checkHealthyWith } from '../../src/actions/cluster.js';
import { checkMirrorCaughtUp, reloadReplica, replicaRoute } from '../../src/actions/reload.js';
import { ensureService } from '../../src/actions/remote.js';
import {
  checkReplicaHoldsSource,
  checkReplicationFlows,
  replicationIndexKey,
} from '../../src/actions/replication.js';
import { arg, check, defineCookbook, step } from '../../src/core/cookbook.js';

/**
 * A full reload of replication into the replica datacenter: what the runbook does when
 * etcdmirror cannot resume (its index fell out of the source's history, or the source was
 * restored from a backup). The reload erases the replica's keys and copies the master's.
 */
export default defineCookbook({
  title:
    'Reload replication into the replica datacenter: erase its keys, copy the master afresh, restart the mirror',
  description:
    'Checks both clusters are healthy, stops the mirror unit, runs the mirror\'s --reload on its host (IRREVERSIBLE: every key of the replica under the destination prefix is erased, then the master\'s are copied and its index recorded), starts the unit again, and checks that it replicates with a lag near zero, that a write on the master reaches the replica and that both hold the same keys. Use it when etcdmirror stopped with "index cleared" or after etcd.disaster-recovery; when only a few keys differ after a gap, a mirror started with --resync-on-gap repairs them without erasing anything.',
  examples: [
    'cookbook etcd.replication-reload --dry-run',
    'cookbook etcd.replication-reload -t T123456 -r "after disaster recovery of codfw"',
  ],
  args: {
    datacenter: arg.datacenter({
      description: 'the replica datacenter to reload (default: the one replicated from the master)',
      required: false,
    }),
  },
  lock: (args) => ({ name: `etcd.replication:${args.datacenter ?? 'replica'}`, ttlMs: 300_000 }),
  steps: (ctx) => {
    const route = replicaRoute(ctx.config(), ctx.args.datacenter);
    const { mirror } = route;
    return [
      check(
        `${route.sourceDatacenter} (the source) and ${route.datacenter} (the replica) are healthy`,
        async () =>
          [await checkHealthyWith(ctx, route.sourceCluster), await checkHealthyWith(ctx, route.cluster)].join(
            '; ',
          ),
      ),
      step(`Stop ${mirror.unit} on ${mirror.host}`, [
        ensureService({ host: mirror.host, unit: mirror.unit, state: 'inactive' }),
      ]),
      step(
        `Reload ${route.datacenter} from ${route.sourceDatacenter} (erases ${route.datacenter}'s keys under ${route.dstPrefix})`,
        [
          reloadReplica({
            datacenter: route.datacenter,
            cluster: route.cluster,
            sourceDatacenter: route.sourceDatacenter,
            host: mirror.host,
            unit: mirror.unit,
            command: mirror.reloadCommand,
            prefix: route.dstPrefix,
            indexKey: replicationIndexKey(route.dstPrefix),
          }),
        ],
      ),
      step(`Start ${mirror.unit} on ${mirror.host}`, [
        ensureService({ host: mirror.host, unit: mirror.unit, state: 'active' }),
      ]),
      check(`${mirror.unit} replicates with a lag near zero`, () => checkMirrorCaughtUp(route), {
        timeoutMs: 30_000,
        intervalMs: 500,
      }),
      check(
        `A write on ${route.sourceDatacenter} reaches ${route.datacenter}`,
        () => checkReplicationFlows(ctx, route.sourceDatacenter, route.datacenter, ctx.runId),
        { timeoutMs: 30_000 },
      ),
      check(
        `${route.datacenter} holds every key of ${route.sourceDatacenter}`,
        () => checkReplicaHoldsSource(ctx, route.sourceDatacenter, route.datacenter),
        { timeoutMs: 30_000 },
      ),
    ];
  },
});
