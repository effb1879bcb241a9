import { createHash } from 'node:crypto';
import type { EtcdClusterConfig, GalleyConfig } from '../config/schema.js';
import { defineAction, type ActionEnv } from '../core/action.js';
import { CheckError, UsageError } from '../core/errors.js';
import type { EtcdNode } from '../etcd/index.js';
import { argvCommand } from '../ssh/command.js';
import { clusterConfig, memberClient } from './cluster.js';
import { mutateOn, readOn } from './remote.js';

/**
 * v2 backups of an etcd member (the runbook's nightly backups in /srv/backup/etcd): taken with
 * `ETCDCTL_API=2 etcdctl backup` (a v3 snapshot does not carry v2 keys), verified by loading a
 * copy into a throwaway etcd on a free loopback port of the same host and reading its keys,
 * and pruned to the last N. A verified backup holds a VERIFIED file (JSON: when, how many keys,
 * a digest of every key and value) that disaster recovery checks the restored cluster against.
 */

/** Where a cluster's backups live on a member: BACKUP_DIR/CLUSTER/YYYYMMDD-HHMMSS. */
export function backupRoot(c: EtcdClusterConfig): string {
  return `${c.backupDir}/${c.name}`;
}

/** The dated directory name of a backup taken at `date` (UTC). */
export function backupName(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

export interface VerifiedInfo {
  verifiedAt: string;
  keys: number;
  digest: string;
  host: string;
  cluster: string;
}

/** One backup found on a member. */
export interface BackupEntry {
  host: string;
  path: string;
  name: string;
  verified?: VerifiedInfo;
}

/**
 * The keys a backup or a cluster holds, as a count and a digest of every `key value` line,
 * sorted. Hidden keys never show in a recursive read; keys with a TTL are left out (they may
 * expire between a backup and its restore).
 */
export function keyDigest(
  root: EtcdNode,
  skipPrefixes: readonly string[] = [],
): { keys: number; digest: string; sample: string[] } {
  const lines: string[] = [];
  const skipped = (key: string | undefined) =>
    key !== undefined && skipPrefixes.some((p) => key === p || key.startsWith(`${p}/`));
  const walk = (n: EtcdNode) => {
    if (skipped(n.key)) return;
    if (n.dir) for (const c of n.nodes ?? []) walk(c);
    else if (n.ttl === undefined && n.expiration === undefined)
      lines.push(`${n.key} ${JSON.stringify(n.value ?? '')}`);
  };
  walk(root);
  lines.sort();
  return {
    keys: lines.length,
    digest: createHash('sha256').update(lines.join('\n')).digest('hex'),
    sample: lines.slice(0, 3),
  };
}

/**
 * Galley's and spicerack's own bookkeeping in etcd (run journals, locks): written by the runs
 * themselves (a disaster recovery journals into the cluster it restores), not part of the data
 * a backup is compared by, and excluded from replication too.
 */
export function bookkeepingPrefixes(config: GalleyConfig): string[] {
  return [...new Set([config.runs.prefix, config.etcd.lockPrefix, '/galley/locks', '/spicerack/locks'])];
}

/** The key count and digest of what one member serves (its local client port, a local read), bookkeeping aside. */
export async function clusterKeyDigest(
  env: ActionEnv,
  cluster: string,
  host: string,
): Promise<{ keys: number; digest: string }> {
  const r = await memberClient(env, cluster, host).get('/', { recursive: true, sorted: true });
  return keyDigest(r.node, bookkeepingPrefixes(env.config()));
}

const LIST_SCRIPT =
  'cd "$1" 2>/dev/null || exit 0; for d in */; do d=${d%/}; [ -d "$d/member" ] || continue; if [ -f "$d/VERIFIED" ]; then printf "%s\\t%s\\n" "$d" "$(tr -d "\\n" < "$d/VERIFIED")"; else printf "%s\\t-\\n" "$d"; fi; done';

/** The backups of a cluster on one member, oldest first (read-only). */
export async function listBackups(env: ActionEnv, cluster: string, host: string): Promise<BackupEntry[]> {
  const root = backupRoot(clusterConfig(env, cluster));
  const r = await readOn(env, host, argvCommand(['sh', '-c', LIST_SCRIPT, 'list', root], { isSafe: true }));
  return r.stdout
    .split('\n')
    .filter((l) => /^\d{8}-\d{6}\t/.test(l))
    .map((l) => {
      const [name, info] = l.split('\t') as [string, string];
      let verified: VerifiedInfo | undefined;
      try {
        verified = info === '-' ? undefined : (JSON.parse(info) as VerifiedInfo);
      } catch {
        verified = undefined;
      }
      return { host, path: `${root}/${name}`, name, verified };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Finds the backup to restore: `latest` is the newest verified backup of the cluster on any
 * member; `HOST:PATH` or `PATH` (searched on every member) names one. A path that is not a
 * backup of the cluster is a UsageError (nothing has changed yet).
 */
export async function resolveBackup(env: ActionEnv, cluster: string, spec: string): Promise<BackupEntry> {
  const c = clusterConfig(env, cluster);
  const found = (
    await Promise.all(
      c.members.map((h) =>
        listBackups(env, cluster, h).catch((e: unknown) => {
          env.log.warn(`cannot list the backups on ${h}: ${e instanceof Error ? e.message : String(e)}`);
          return [] as BackupEntry[];
        }),
      ),
    )
  ).flat();
  if (spec === 'latest') {
    const verified = found.filter((b) => b.verified).sort((a, b) => a.name.localeCompare(b.name));
    const newest = verified[verified.length - 1];
    if (!newest)
      throw new UsageError(`no verified backup of ${cluster} on any member (under ${backupRoot(c)})`, [
        `take one: cookbook etcd.backup ${cluster}`,
      ]);
    return newest;
  }
  const m = /^([^:/]+):(\/.*)$/.exec(spec);
  const host = m?.[1];
  const path = (m?.[2] ?? spec).replace(/\/+$/, '');
  const hit = found.find((b) => b.path === path && (!host || b.host === host));
  if (!hit)
    throw new UsageError(
      `--backup ${spec}: no backup of ${cluster} there (on ${host ?? 'any member'}); backups live in ${backupRoot(c)}/YYYYMMDD-HHMMSS`,
      ['give --backup latest, or one listed by: cookbook exec A:... -- ls ' + backupRoot(c)],
    );
  return hit;
}

/** Takes a v2 backup of a member's data directory into a new dated directory. Undo deletes that directory. */
export const takeBackup = defineAction<
  { cluster: string; host: string; dataDir: string; path: string },
  { exists: boolean }
>({
  kind: 'etcd.take-backup',
  describe: (p) => `${p.host}: v2 backup of ${p.dataDir} into ${p.path}`,
  async observe(p, env) {
    const r = await readOn(env, p.host, argvCommand(['test', '-d', `${p.path}/member`], { isSafe: true }), {
      allowExit: [1],
    });
    return { exists: r.exitCode === 0 };
  },
  plan: (p, b) =>
    b.exists
      ? []
      : [{ subject: `${p.host}:${p.path}`, from: 'absent', to: `v2 backup of ${p.cluster} (${p.dataDir})` }],
  async apply(p, _b, env) {
    const script =
      'set -e; mkdir -p "$(dirname "$2")"; rm -rf "$2.partial"; ETCDCTL_API=2 etcdctl backup --data-dir "$1" --backup-dir "$2.partial" >/dev/null; mv "$2.partial" "$2"';
    await mutateOn(env, p.host, argvCommand(['sh', '-c', script, 'backup', p.dataDir, p.path]), {
      timeoutMs: 120_000,
    });
  },
  async undo(p, _b, env) {
    await mutateOn(env, p.host, argvCommand(['rm', '-rf', '--', p.path]));
  },
  comparable: (s) => s.exists,
});

/**
 * The throwaway etcd: a copy of the backup started with --force-new-cluster on two free
 * loopback ports of the host, its keys read once (printed between markers), then stopped and
 * deleted whatever happens.
 */
const VERIFY_SCRIPT = `set -u
b=$1
tmp=$(mktemp -d "$(dirname "$b")/.verify.XXXXXX") || exit 1
pid=
cleanup() { if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi; rm -rf "$tmp"; }
trap cleanup EXIT
cp -a "$b/member" "$tmp/member" || exit 1
free() { ! (ss -Hltn "sport = :$1" 2>/dev/null | grep -q .); }
i=0
while :; do
  p=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000 )); q=$((p + 1))
  if free $p && free $q; then break; fi
  i=$((i + 1)); [ $i -lt 50 ] || { echo "no free loopback port pair" >&2; exit 1; }
done
env -i PATH="$PATH" etcd --name verify --data-dir "$tmp" --force-new-cluster --enable-v2=true --log-level error \\
  --listen-client-urls "http://127.0.0.1:$p" --advertise-client-urls "http://127.0.0.1:$p" \\
  --listen-peer-urls "http://127.0.0.1:$q" --initial-advertise-peer-urls "http://127.0.0.1:$q" \\
  --initial-cluster "verify=http://127.0.0.1:$q" >"$tmp/etcd.log" 2>&1 &
pid=$!
i=0
until curl -fsS -m 1 "http://127.0.0.1:$p/health" 2>/dev/null | grep -q '"true"'; do
  kill -0 "$pid" 2>/dev/null || { echo "the throwaway etcd exited:" >&2; tail -n 5 "$tmp/etcd.log" >&2; exit 1; }
  i=$((i + 1)); [ $i -lt 300 ] || { echo "the throwaway etcd was not healthy within 30 s" >&2; exit 1; }
  sleep 0.1
done
echo "port $p"
echo '--- keys'
curl -fsS -m 30 "http://127.0.0.1:$p/v2/keys/?recursive=true&sorted=true" || exit 1
echo
echo '--- end'
`;

/**
 * Verifies a backup by loading it: a throwaway etcd on the same host, its keys read and
 * counted, a VERIFIED file written into the backup (its key count and digest). Undo removes
 * the VERIFIED file. Fails when the throwaway etcd does not come up, or holds no key while
 * the cluster does.
 */
export const verifyBackup = defineAction<
  { cluster: string; host: string; path: string },
  { verified?: VerifiedInfo }
>({
  kind: 'etcd.verify-backup',
  describe: (p) => `${p.host}: load ${p.path} into a throwaway etcd and read its keys`,
  async observe(p, env) {
    const r = await readOn(env, p.host, argvCommand(['cat', `${p.path}/VERIFIED`], { isSafe: true }), {
      allowExit: [1],
    });
    if (r.exitCode !== 0) return {};
    try {
      return { verified: JSON.parse(r.stdout) as VerifiedInfo };
    } catch {
      return {};
    }
  },
  plan: (p, b) =>
    b.verified
      ? []
      : [
          {
            subject: `${p.host}:${p.path}`,
            from: 'not verified',
            to: 'verified (loaded in a throwaway etcd, keys read)',
          },
        ],
  async apply(p, _b, env) {
    const r = await mutateOn(env, p.host, argvCommand(['sh', '-c', VERIFY_SCRIPT, 'verify', p.path]), {
      timeoutMs: 120_000,
    });
    const m = /--- keys\n([\s\S]*)\n--- end/.exec(r.stdout);
    if (!m) throw new CheckError(`${p.host}: the throwaway etcd of ${p.path} gave no keys`);
    const tree = JSON.parse(m[1]!) as { node?: EtcdNode };
    if (!tree.node)
      throw new CheckError(`${p.host}: the throwaway etcd of ${p.path} answered without a tree`);
    const d = keyDigest(tree.node, bookkeepingPrefixes(env.config()));
    if (d.keys === 0) {
      const live = await memberClient(env, p.cluster, p.host)
        .get('/', { recursive: true })
        .then(
          (x) => keyDigest(x.node).keys,
          () => 0,
        );
      if (live > 0)
        throw new CheckError(`${p.host}: ${p.path} loads but holds no key, while ${p.cluster} holds ${live}`);
    }
    const info: VerifiedInfo = {
      verifiedAt: new Date().toISOString(),
      keys: d.keys,
      digest: d.digest,
      host: p.host,
      cluster: p.cluster,
    };
    await mutateOn(env, p.host, argvCommand(['sh', '-c', 'cat > "$1/VERIFIED"', 'mark', p.path]), {
      stdin: `${JSON.stringify(info)}\n`,
    });
  },
  async undo(p, _b, env) {
    await mutateOn(env, p.host, argvCommand(['rm', '-f', '--', `${p.path}/VERIFIED`]));
  },
  comparable: (s) => Boolean(s.verified),
  verifyTimeoutMs: 10_000,
});

/** Deletes an old backup. Irreversible: its files are gone. */
export const pruneBackup = defineAction<{ host: string; root: string; path: string }, { exists: boolean }>({
  kind: 'etcd.prune-backup',
  describe: (p) => `${p.host}: delete the old backup ${p.path}`,
  irreversibleBecause: "the backup's files are deleted",
  async observe(p, env) {
    const r = await readOn(env, p.host, argvCommand(['test', '-d', p.path], { isSafe: true }), {
      allowExit: [1],
    });
    return { exists: r.exitCode === 0 };
  },
  plan: (p, b) => (b.exists ? [{ subject: `${p.host}:${p.path}`, from: 'kept', to: 'deleted' }] : []),
  async apply(p, _b, env) {
    if (!p.path.startsWith(`${p.root}/`) || !/^\d{8}-\d{6}$/.test(p.path.slice(p.root.length + 1)))
      throw new CheckError(`refusing to delete ${p.path}: not a dated backup under ${p.root}`);
    await mutateOn(env, p.host, argvCommand(['rm', '-rf', '--', p.path]));
  },
});

/**
 * Which backups to delete so that the newest `keep` verified ones stay: every verified one
 * beyond those, and every unverified one older than the newest verified (a failed attempt).
 */
export function backupsToPrune(backups: BackupEntry[], keep: number): BackupEntry[] {
  const sorted = [...backups].sort((a, b) => a.name.localeCompare(b.name));
  const verified = sorted.filter((b) => b.verified);
  const kept = new Set(verified.slice(-keep).map((b) => b.path));
  const newest = verified[verified.length - 1]?.name ?? '';
  return sorted.filter((b) => !kept.has(b.path) && (b.verified || b.name < newest));
}

/** Which backup and run restored a member's data directory (`BACKUP RUNID`), if any (read-only). */
export async function restoredBy(env: ActionEnv, host: string, dataDir: string): Promise<string | undefined> {
  const r = await readOn(env, host, argvCommand(['cat', `${dataDir}.galley-restore`], { isSafe: true }), {
    allowExit: [1],
  });
  return r.exitCode === 0 ? r.stdout.trim() || undefined : undefined;
}

/**
 * Replaces a member's data directory with a copy of a backup (etcd must be stopped there).
 * Irreversible: what the data directory held is erased. A marker next to the data directory
 * records which backup and run restored it, so that a resumed run sees it done.
 */
export const restoreBackup = defineAction<
  { host: string; unit: string; dataDir: string; backup: string; runId: string },
  { entries: number; restoredBy?: string }
>({
  kind: 'etcd.restore-backup',
  describe: (p) => `${p.host}: ERASE ${p.dataDir} and put a copy of the backup ${p.backup} in its place`,
  irreversibleBecause: "the member's current data directory is erased (replaced by the backup)",
  async observe(p, env) {
    const r = await readOn(
      env,
      p.host,
      argvCommand(
        [
          'sh',
          '-c',
          'if [ -d "$1" ]; then ls -A -- "$1" | wc -l; else echo 0; fi; cat "$1.galley-restore" 2>/dev/null || true',
          'observe',
          p.dataDir,
        ],
        { isSafe: true },
      ),
    );
    const [count, marker] = r.stdout.split('\n');
    return { entries: Number(count?.trim()) || 0, restoredBy: marker?.trim() || undefined };
  },
  plan: (p, b) =>
    b.restoredBy === `${p.backup} ${p.runId}`
      ? []
      : [
          {
            subject: `${p.host}:${p.dataDir}`,
            from: b.entries ? `${b.entries} entr${b.entries === 1 ? 'y' : 'ies'} (ERASED)` : 'empty',
            to: `a copy of ${p.backup}`,
          },
        ],
  async apply(p, _b, env) {
    if (!p.dataDir.startsWith('/') || p.dataDir.split('/').filter(Boolean).length < 2)
      throw new CheckError(`refusing to replace ${p.dataDir}: not a directory two levels deep`);
    const script =
      'set -e; if systemctl is-active -q "$3"; then echo "$3 is running: stop it first" >&2; exit 1; fi; [ -d "$2/member" ]; mkdir -p "$1"; find "$1" -mindepth 1 -delete; cp -a "$2/member" "$1/member"; printf "%s %s\\n" "$2" "$4" > "$1.galley-restore"';
    await mutateOn(
      env,
      p.host,
      argvCommand(['sh', '-c', script, 'restore', p.dataDir, p.backup, p.unit, p.runId]),
      { timeoutMs: 120_000 },
    );
  },
});
