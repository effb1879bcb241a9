import {
  backupRoot,
  clusterKeyDigest,
  resolveBackup,
  restoreBackup,
  restoredBy,
} from '../../src/actions/backup.js';
import {
  checkHealthyWith,
  checkQuorumLost,
  clusterMembershipLock,
  configureMember,
  configuredMembers,
  initialClusterOf,
  joinMemberActions,
  memberAnswers,
  setMemberPeerUrl,
} from '../../src/actions/cluster.js';
import { replicationAfterRestore, routesThrough } from '../../src/actions/reload.js';
import { ensureService, wipeDirectory } from '../../src/actions/remote.js';
import { arg, check, defineCookbook, step } from '../../src/core/cookbook.js';
import { CheckError, UsageError } from '../../src/core/errors.js';

/**
 * "Recover a cluster after a disaster" of the Etcd runbook, for a cluster that lost quorum:
 * stop every etcd still running, restore a backup on one member and start it alone with
 * --force-new-cluster, give it back its own peer URL (it comes back with localhost), then
 * empty the other members' data and add them back one at a time with state "existing".
 */
export default defineCookbook({
  title:
    'Recover an etcd cluster that lost quorum from a v2 backup (force-new-cluster, then re-add the members)',
  description:
    'Checks the backup (verified by etcd.backup) and that CLUSTER has no quorum, stops the replication that reads from or writes into CLUSTER and every etcd still running, ERASES the data directory of the member holding the backup and restores the backup there, starts it with --force-new-cluster, checks it holds every key of the backup, advertises its own peer URL again, then for each other member ERASES its data directory and adds it back (state existing), checks the cluster is healthy with all its members serving the same data, and says whether replication can resume or needs etcd.replication-reload. Each erasure is confirmed explicitly.',
  examples: [
    'cookbook etcd.disaster-recovery eqiad --backup latest --dry-run',
    'cookbook etcd.disaster-recovery eqiad --backup /srv/backup/etcd/eqiad/20261201-020000 -t T123456',
  ],
  args: {
    cluster: arg.cluster({ description: 'the etcd cluster that lost quorum', positional: true }),
    backup: arg.string({
      description:
        'the backup to restore: latest (the newest verified backup of CLUSTER on any member), or its PATH (or HOST:PATH)',
    }),
  },
  validate: (args, ctx) => {
    if (args.backup === 'latest') return;
    const c = ctx.config().etcd.clusters[args.cluster]!;
    const path = args.backup.replace(/^[^:/]+:/, '');
    const root = backupRoot(c);
    if (!path.startsWith(`${root}/`) || path.split('/').includes('..')) {
      throw new UsageError(
        `--backup ${args.backup}: not a backup of ${args.cluster} (they live in ${root}/YYYYMMDD-HHMMSS)`,
        ['or give --backup latest'],
      );
    }
  },
  // The cluster being recovered has no quorum: it cannot hold the lock, the others do.
  lock: (args) => ({ ...clusterMembershipLock(args.cluster), without: [args.cluster] }),
  steps: (ctx) => {
    const { cluster } = ctx.args;
    const c = ctx.config().etcd.clusters[cluster]!;
    const all = configuredMembers(ctx, cluster);
    const backup = () => ctx.fact('backup restored', () => resolveBackup(ctx, cluster, ctx.args.backup));
    const routes = routesThrough(ctx.config(), cluster);
    const restoreHost = async () => {
      const b = await backup();
      const m = all.find((x) => x.name === b.host);
      if (!m) throw new CheckError(`${b.host} holds the backup but is not a member of ${cluster}`);
      return m;
    };
    // The steps after the restore depend on the restored member: they are decided once it is there.
    const whenRestored = async () => {
      const [b, m] = [await backup(), await restoreHost()];
      if ((await restoredBy(ctx, m.name, c.dataDir)) !== `${b.path} ${ctx.runId}`)
        throw new CheckError(`decided once the backup is restored on ${m.name}`);
      return m;
    };
    const whenRunning = async () => {
      const m = await whenRestored();
      if (!(await memberAnswers(ctx, cluster, m.name)))
        throw new CheckError(`decided once etcd runs on ${m.name}`);
      return m;
    };
    return [
      check('The backup to restore', async () => {
        const b = await backup();
        if (!b.verified)
          throw new CheckError(
            `${b.host}:${b.path} was never verified (no VERIFIED file): restore a verified backup`,
            { suggestions: ['--backup latest takes the newest verified one'] },
          );
        await restoreHost();
        return `${b.host}:${b.path}, verified ${b.verified.verifiedAt} (${b.verified.keys} keys)`;
      }),
      check(`${cluster} has lost quorum`, () => checkQuorumLost(ctx, cluster)),
      ...routes.map((r) =>
        step(
          `Stop replication ${r.sourceDatacenter} → ${r.datacenter} (${r.mirror.unit} on ${r.mirror.host})`,
          [ensureService({ host: r.mirror.host, unit: r.mirror.unit, state: 'inactive' })],
        ),
      ),
      step(
        `Stop etcd on every member of ${cluster} still running`,
        all.map((m) => ensureService({ host: m.name, unit: c.unit, state: 'inactive' })),
      ),
      step('Restore the backup on the member that holds it (its data directory is ERASED)', async () => {
        const [b, m] = [await backup(), await restoreHost()];
        return [
          restoreBackup({ host: m.name, unit: c.unit, dataDir: c.dataDir, backup: b.path, runId: ctx.runId }),
          await configureMember(ctx, cluster, m.name, {
            ETCD_FORCE_NEW_CLUSTER: 'true',
            ETCD_INITIAL_CLUSTER_STATE: 'existing',
            ETCD_INITIAL_CLUSTER: initialClusterOf([m]),
          }),
        ];
      }),
      step('Start it alone with --force-new-cluster', async () => [
        ensureService({ host: (await whenRestored()).name, unit: c.unit, state: 'active' }),
      ]),
      check(
        'It is healthy, alone, and holds every key of the backup',
        async () => {
          const [b, m] = [await backup(), await restoreHost()];
          const line = await checkHealthyWith(ctx, cluster, { size: 1, including: [m.name] });
          const now = await clusterKeyDigest(ctx, cluster, m.name);
          if (now.digest !== b.verified?.digest)
            throw new CheckError(
              `${m.name} holds ${now.keys} keys after the restore, not the ${b.verified?.keys} keys of the backup (digests differ)`,
            );
          return `${line}; the ${now.keys} keys of the backup are there`;
        },
        { timeoutMs: 20_000 },
      ),
      step('Advertise its own peer URL again (it comes back with localhost)', async () => {
        const m = await whenRunning();
        return [setMemberPeerUrl({ cluster, host: m.name, peerUrl: m.peerUrl })];
      }),
      step('Take --force-new-cluster out of its settings, so that a restart keeps the cluster', async () => [
        await configureMember(ctx, cluster, (await whenRestored()).name, {
          ETCD_FORCE_NEW_CLUSTER: undefined,
        }),
      ]),
      ...all.flatMap((m) => [
        step(`Empty the data directory of ${m.name} (ERASED), unless it holds the restored data`, async () =>
          (await whenRunning()).name === m.name ? [] : [wipeDirectory({ host: m.name, path: c.dataDir })],
        ),
        step(`Add ${m.name} back to ${cluster} (state existing)`, async () => {
          await whenRunning();
          return joinMemberActions(ctx, cluster, m.name);
        }),
      ]),
      step(
        `Write state "existing" and the full ETCD_INITIAL_CLUSTER on every member`,
        async () =>
          (await whenRunning()) &&
          Promise.all(
            all.map((m) =>
              configureMember(ctx, cluster, m.name, {
                ETCD_INITIAL_CLUSTER: initialClusterOf(all),
                ETCD_INITIAL_CLUSTER_STATE: 'existing',
                ETCD_FORCE_NEW_CLUSTER: undefined,
              }),
            ),
          ),
      ),
      check(
        `${cluster} is healthy with its ${all.length} members, all serving the same data`,
        async () => {
          const line = await checkHealthyWith(ctx, cluster, {
            size: all.length,
            including: all.map((m) => m.name),
          });
          const digests = await Promise.all(all.map((m) => clusterKeyDigest(ctx, cluster, m.name)));
          const differ = all.filter((_, i) => digests[i]!.digest !== digests[0]!.digest);
          if (differ.length)
            throw new CheckError(
              `${differ.map((m) => m.name).join(', ')} do(es) not serve the same keys as ${all[0]!.name} yet`,
            );
          ctx.report('restored', {
            cluster,
            backup: (await backup()).path,
            host: (await backup()).host,
            keys: digests[0]!.keys,
          });
          return `${line}; every member serves the same ${digests[0]!.keys} keys`;
        },
        { timeoutMs: 30_000 },
      ),
      check('Replication after the restore', async () => {
        if (!routes.length) return `no replication reads from or writes into ${cluster}`;
        const lines: string[] = [];
        for (const r of routes) {
          try {
            const a = await replicationAfterRestore(ctx, cluster, r);
            ctx.report('replication', a);
            lines.push(
              a.needsReload
                ? `replication ${r.sourceDatacenter} → ${r.datacenter} is stopped and cannot resume: ${a.why}. Reload it (erases ${r.datacenter}'s keys): cookbook etcd.replication-reload --datacenter ${r.datacenter}`
                : `replication ${r.sourceDatacenter} → ${r.datacenter} is stopped: ${a.why}; or reload it: cookbook etcd.replication-reload --datacenter ${r.datacenter}`,
            );
          } catch (e) {
            lines.push(
              `replication ${r.sourceDatacenter} → ${r.datacenter} is stopped and could not be checked (${(e as Error).message}): cookbook etcd.replication-reload --datacenter ${r.datacenter} restores it`,
            );
          }
        }
        return lines.join('\n');
      }),
    ];
  },
});
