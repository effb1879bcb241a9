import {
  backupName,
  backupRoot,
  backupsToPrune,
  listBackups,
  pruneBackup,
  takeBackup,
  verifyBackup,
  type BackupEntry,
} from '../../src/actions/backup.js';
import { probeMembers } from '../../src/actions/cluster.js';
import { arg, check, defineCookbook, step } from '../../src/core/cookbook.js';
import { CheckError } from '../../src/core/errors.js';

/**
 * The nightly etcd backup of the runbook ("regularly performed every night in
 * /srv/backup/etcd"): a v2 backup of one healthy member's data into a dated directory on that
 * member, verified by loading it into a throwaway etcd and reading its keys, then the backups
 * beyond the last N verified ones deleted.
 */
export default defineCookbook({
  title: 'Take a verified v2 backup of an etcd cluster on one of its members, keep the last N',
  description:
    'Picks a healthy member (a follower if there is one), runs `ETCDCTL_API=2 etcdctl backup` of its data directory into BACKUP_DIR/CLUSTER/YYYYMMDD-HHMMSS on it, loads a copy into a throwaway etcd on a free loopback port of that host (--force-new-cluster) and reads its keys, writes VERIFIED (key count and digest) into the backup, and deletes the verified backups beyond the newest N (and failed attempts older than the newest good one). etcd.disaster-recovery --backup latest takes the newest verified backup.',
  examples: [
    'cookbook etcd.backup codfw --dry-run',
    'cookbook etcd.backup codfw -y -r "nightly backup"',
    'cookbook etcd.backup eqiad --keep 14',
  ],
  args: {
    cluster: arg.cluster({ description: 'the etcd cluster to back up', positional: true }),
    keep: arg.integer({
      description:
        'how many verified backups to keep on that member (default: etcd.clusters.CLUSTER.backup_keep)',
      required: false,
      min: 1,
      max: 1000,
    }),
  },
  lock: (args) => ({ name: `etcd.backup:${args.cluster}`, ttlMs: 300_000 }),
  steps: (ctx) => {
    const { cluster } = ctx.args;
    const c = ctx.config().etcd.clusters[cluster]!;
    const keep = ctx.args.keep ?? c.backupKeep;
    const root = backupRoot(c);
    const source = () =>
      ctx.fact(`member backed up`, async () => {
        const healthy = (await probeMembers(ctx, cluster)).filter((p) => p.healthy);
        const pick = healthy.find((p) => p.id !== p.leaderId) ?? healthy[0];
        if (!pick)
          throw new CheckError(`no member of ${cluster} is healthy: there is nothing consistent to back up`);
        return pick.host;
      });
    const name = () => ctx.fact('backup name', async () => backupName(new Date()));
    const target = async () => ({ cluster, host: await source(), path: `${root}/${await name()}` });
    return [
      check(
        `A healthy member of ${cluster} to back up`,
        async () => `${await source()}, into ${root}/${await name()}`,
      ),
      step(`Take a v2 backup of its data (${c.dataDir})`, async () => [
        takeBackup({ ...(await target()), dataDir: c.dataDir }),
      ]),
      step('Verify the backup: load it into a throwaway etcd and read its keys', async () => [
        verifyBackup(await target()),
      ]),
      step(`Keep the newest ${keep} verified backup(s) in ${root}`, async () => {
        const { host, path } = await target();
        const listed = await listBackups(ctx, cluster, host);
        // In a dry-run the new backup is not there yet: count it as the verified one it will be.
        const all: BackupEntry[] = listed.some((b) => b.path === path)
          ? listed
          : [
              ...listed,
              {
                host,
                path,
                name: await name(),
                verified: { verifiedAt: '', keys: 0, digest: '', host, cluster },
              },
            ];
        return backupsToPrune(all, keep).map((b) => pruneBackup({ host, root, path: b.path }));
      }),
      check('The backups kept', async () => {
        const { host, path } = await target();
        const kept = await listBackups(ctx, cluster, host);
        const mine = kept.find((b) => b.path === path);
        ctx.report('backup', {
          host,
          path,
          keys: mine?.verified?.keys,
          digest: mine?.verified?.digest,
          kept: kept.map((b) => b.path),
        });
        return `${host}: ${kept.map((b) => `${b.name}${b.verified ? ` (${b.verified.keys} keys)` : ' (NOT VERIFIED)'}`).join(', ')}`;
      }),
    ];
  },
});
