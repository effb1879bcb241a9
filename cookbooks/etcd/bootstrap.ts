import {
  checkHealthyWith,
  checkMemberHost,
  clusterMembershipLock,
  configureMember,
  configuredMembers,
  directoryEntries,
  initialClusterOf,
  joinMemberActions,
  membersIfUp,
} from '../../src/actions/cluster.js';
import { ensureService } from '../../src/actions/remote.js';
import { arg, check, defineCookbook, step } from '../../src/core/cookbook.js';
import { CheckError } from '../../src/core/errors.js';

/**
 * "Bootstrapping an etcd cluster" of the Etcd runbook: start the first member alone as a new
 * cluster, verify it, add the others one at a time as the runbook's "adding a member" does,
 * then switch every member to ETCD_INITIAL_CLUSTER_STATE="existing" (the runbook's "flip
 * cluster_bootstrap") so that a restart never bootstraps it again. Re-runnable: what already
 * runs is reported as done.
 */
export default defineCookbook({
  title: 'Bootstrap a new etcd cluster from its first member, then grow it to its configured size',
  description:
    'Checks every member answers over SSH with etcd installed and no data of another cluster, starts the first configured member alone (ETCD_INITIAL_CLUSTER_STATE="new"), checks it, adds each other member (member add, ETCD_INITIAL_CLUSTER_STATE="existing", start) and checks the cluster after each, then writes state "existing" and the full ETCD_INITIAL_CLUSTER on every member, and prints the settings configuration management must be given.',
  examples: ['cookbook etcd.bootstrap kubetcd --dry-run', 'cookbook etcd.bootstrap kubetcd -t T123456'],
  args: {
    cluster: arg.cluster({
      description: 'the etcd cluster to build (etcd.clusters.NAME; its first member starts it)',
      positional: true,
    }),
  },
  lock: (args) => clusterMembershipLock(args.cluster),
  steps: (ctx) => {
    const { cluster } = ctx.args;
    const c = ctx.config().etcd.clusters[cluster]!;
    const all = configuredMembers(ctx, cluster);
    const [first, ...rest] = all;
    if (!first) throw new CheckError(`etcd cluster ${cluster} has no members`);
    return [
      check(
        `Every member of ${cluster} answers over SSH, has etcd installed and no data of another cluster`,
        async () => {
          await Promise.all(all.map((m) => checkMemberHost(ctx, cluster, m.name)));
          const running = await membersIfUp(ctx, cluster);
          const started = new Set(running?.members.map((m) => m.name) ?? []);
          for (const m of all.filter((x) => !started.has(x.name))) {
            const entries = await directoryEntries(ctx, m.name, c.dataDir);
            if (entries) {
              throw new CheckError(
                `${m.name} holds data in ${c.dataDir} (${entries} entries) but is not a member of a running ${cluster}: it belongs to an earlier cluster`,
                {
                  suggestions: [
                    `if that data is not needed, stop etcd and empty ${c.dataDir} on ${m.name}, then run this again`,
                  ],
                },
              );
            }
          }
          return running
            ? `${cluster} already runs with ${[...started].sort().join(', ')}`
            : `${cluster} does not run yet: it starts from ${first.name}`;
        },
      ),
      step(`Start ${first.name} alone as a new cluster (state new)`, async () => {
        if (await membersIfUp(ctx, cluster)) return [];
        return [
          await configureMember(ctx, cluster, first.name, {
            ETCD_INITIAL_CLUSTER: initialClusterOf([first]),
            ETCD_INITIAL_CLUSTER_STATE: 'new',
            ETCD_FORCE_NEW_CLUSTER: undefined,
          }),
          ensureService({ host: first.name, unit: c.unit, state: 'active' }),
        ];
      }),
      check(
        `${cluster} is healthy with ${first.name}`,
        () => checkHealthyWith(ctx, cluster, { including: [first.name] }),
        { timeoutMs: 30_000 },
      ),
      ...rest.flatMap((m) => [
        step(`Add ${m.name} to ${cluster} (state existing)`, () => joinMemberActions(ctx, cluster, m.name)),
        check(
          `${cluster} is healthy with ${m.name}`,
          () => checkHealthyWith(ctx, cluster, { including: [m.name] }),
          { timeoutMs: 30_000 },
        ),
      ]),
      step(
        `Switch every member to state "existing", so that a restart never bootstraps ${cluster} again`,
        () =>
          Promise.all(
            all.map((m) =>
              configureMember(ctx, cluster, m.name, {
                ETCD_INITIAL_CLUSTER: initialClusterOf(all),
                ETCD_INITIAL_CLUSTER_STATE: 'existing',
              }),
            ),
          ),
      ),
      check(`${cluster} is healthy with its ${all.length} members`, async () => {
        const line = await checkHealthyWith(ctx, cluster, {
          size: all.length,
          including: all.map((m) => m.name),
        });
        const settings = {
          ETCD_INITIAL_CLUSTER: initialClusterOf(all),
          ETCD_INITIAL_CLUSTER_STATE: 'existing',
          config: `etcd.clusters.${cluster}.in_service: true`,
        };
        ctx.report('settings', settings);
        return [
          line,
          'Give configuration management these settings (the runbook\'s "write down the output"):',
          `  profile::etcd::cluster_bootstrap: false`,
          `  ETCD_INITIAL_CLUSTER="${settings.ETCD_INITIAL_CLUSTER}"`,
          `  ETCD_INITIAL_CLUSTER_STATE="existing"`,
          `and set ${settings.config} in ${ctx.config().file} once clients use it.`,
        ].join('\n');
      }),
    ];
  },
});
