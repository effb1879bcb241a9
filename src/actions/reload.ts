import type { GalleyConfig, MirrorConfig } from '../config/schema.js';
import { defineAction, type ActionEnv } from '../core/action.js';
import { CheckError, ConfigError } from '../core/errors.js';
import { EtcdIndexClearedError, EtcdKeyNotFoundError } from '../etcd/index.js';
import { argvCommand } from '../ssh/command.js';
import { keyDigest } from './backup.js';
import { etcdOf } from './etcd.js';
import { clusterOfDatacenter } from './proxy.js';
import { mutateOn } from './remote.js';
import { etcdIndexOf, replicationIndexKey } from './replication.js';

/**
 * A full reload of the replica (etcdmirror --reload), and what a restore does to replication:
 * the replica records the last source index it applied, and a restored cluster's indexes are
 * renumbered (a restored master) or rewound (a restored replica), so that index may no longer
 * be in the source's history.
 */

/** Replication into one datacenter: its mirror, and the datacenters and clusters on either side. */
export interface MirrorRoute {
  datacenter: string;
  cluster: string;
  sourceDatacenter: string;
  sourceCluster: string;
  mirror: MirrorConfig;
  dstPrefix: string;
}

function replicationOf(config: GalleyConfig) {
  if (!config.replication) throw new ConfigError(`${config.file} has no replication section`);
  return config.replication;
}

/** The replica datacenter (the master's peer with a mirror configured), or the one named. */
export function replicaRoute(config: GalleyConfig, datacenter?: string): MirrorRoute {
  const r = replicationOf(config);
  const dc = datacenter ?? Object.keys(r.mirrors).find((d) => d !== r.master);
  if (!dc)
    throw new ConfigError(
      `no replica datacenter: replication.mirrors has no datacenter other than the master ${r.master}`,
    );
  if (dc === r.master)
    throw new ConfigError(`${dc} is the replication master: it is replicated from, not into`, [
      'name the replica datacenter',
    ]);
  const mirror = r.mirrors[dc];
  if (!mirror)
    throw new ConfigError(`replication.mirrors has no entry for ${dc}`, [
      `known: ${Object.keys(r.mirrors).join(', ')}`,
    ]);
  return {
    datacenter: dc,
    cluster: clusterOfDatacenter(config, dc),
    sourceDatacenter: r.master,
    sourceCluster: clusterOfDatacenter(config, r.master),
    mirror,
    dstPrefix: r.dstPrefix,
  };
}

/** The mirrors that read from or write into a cluster (those a restore of it concerns). */
export function routesThrough(config: GalleyConfig, cluster: string): MirrorRoute[] {
  if (!config.replication) return [];
  const route = (() => {
    try {
      return replicaRoute(config);
    } catch {
      return undefined;
    }
  })();
  return route && (route.cluster === cluster || route.sourceCluster === cluster) ? [route] : [];
}

/** The source index recorded in the replica (undefined when absent). */
export async function recordedIndex(env: ActionEnv, route: MirrorRoute): Promise<number | undefined> {
  try {
    const r = await etcdOf(env, route.cluster, 'local').get(replicationIndexKey(route.dstPrefix), {
      quorum: true,
    });
    return /^\d+$/.test(r.node.value ?? '') ? Number(r.node.value) : undefined;
  } catch (e) {
    if (e instanceof EtcdKeyNotFoundError) return undefined;
    throw e;
  }
}

export interface ReplicationAfterRestore {
  replica: string;
  source: string;
  recordedIndex?: number;
  sourceIndex: number;
  /** True when the mirror cannot resume: a reload (etcd.replication-reload) is needed. */
  needsReload: boolean;
  why: string;
}

/**
 * Says whether replication can resume after `restored` was restored from a backup. A restored
 * source renumbers its history: the replica's index means nothing there any more. A restored
 * replica has the index of its backup: replication can resume only if the source still holds
 * the events after it (the last 1,000).
 */
export async function replicationAfterRestore(
  env: ActionEnv,
  restored: string,
  route: MirrorRoute,
): Promise<ReplicationAfterRestore> {
  const [recorded, sourceIndex] = await Promise.all([
    recordedIndex(env, route),
    etcdIndexOf(env, route.sourceCluster),
  ]);
  const base = {
    replica: route.datacenter,
    source: route.sourceDatacenter,
    recordedIndex: recorded,
    sourceIndex,
  };
  if (recorded === undefined)
    return { ...base, needsReload: true, why: `${route.datacenter} records no replication index` };
  if (route.sourceCluster === restored) {
    return {
      ...base,
      needsReload: true,
      why: `${route.sourceDatacenter} was restored from a backup, so its indexes were renumbered (now ${sourceIndex}): the index ${recorded} recorded in ${route.datacenter} belongs to its history before the restore`,
    };
  }
  if (recorded > sourceIndex)
    return {
      ...base,
      needsReload: true,
      why: `the index ${recorded} recorded in ${route.datacenter} is ahead of ${route.sourceDatacenter} (${sourceIndex})`,
    };
  try {
    await etcdOf(env, route.sourceCluster, 'local').watch('/', {
      recursive: true,
      waitIndex: recorded + 1,
      timeoutMs: 1500,
    });
  } catch (e) {
    if (e instanceof EtcdIndexClearedError) {
      return {
        ...base,
        needsReload: true,
        why: `${route.sourceDatacenter} no longer holds the events after index ${recorded} recorded in ${route.datacenter} (its history starts at ${e.oldestIndex ?? '?'})`,
      };
    }
    // No event after it yet (a long-poll that timed out): nothing was missed.
  }
  return {
    ...base,
    needsReload: false,
    why: `${route.sourceDatacenter} still holds the events after index ${recorded} recorded in ${route.datacenter}: starting ${route.mirror.unit} resumes replication (a reload is the safe choice if in doubt)`,
  };
}

/** How many replicated keys a cluster holds under a prefix (hidden keys aside), read on its local port. */
async function keyCount(env: ActionEnv, cluster: string, prefix: string): Promise<number> {
  try {
    return keyDigest(
      (await etcdOf(env, cluster, 'local').get(prefix, { recursive: true, quorum: true })).node,
    ).keys;
  } catch (e) {
    if (e instanceof EtcdKeyNotFoundError) return 0;
    throw e;
  }
}

/**
 * The reload script: runs the mirror's reload command in the background, and once it logs
 * "Starting replication at" (the copy is done and the index recorded) stops it, so that the
 * unit can take over. Prints the log.
 */
const RELOAD_SCRIPT = `log=$(mktemp) || exit 1
"$@" >"$log" 2>&1 &
pid=$!
i=0
done=1
while :; do
  if grep -q "Starting replication at" "$log"; then done=0; break; fi
  kill -0 "$pid" 2>/dev/null || break
  i=$((i + 1)); [ $i -lt 1800 ] || break
  sleep 0.1
done
kill -TERM "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
grep -q "Starting replication at" "$log" && done=0
cat "$log"; rm -f "$log"
exit $done`;

/**
 * Reloads the replica: the mirror's --reload ERASES every key of the replica under the
 * destination prefix and copies the source's afresh, recording the source index it copied.
 * The mirror unit must be stopped. Irreversible: the replica's own keys are gone.
 */
export const reloadReplica = defineAction<
  {
    datacenter: string;
    cluster: string;
    sourceDatacenter: string;
    host: string;
    unit: string;
    command: string[];
    prefix: string;
    indexKey: string;
  },
  { keys: number; recordedIndex?: string }
>({
  kind: 'replication.reload',
  describe: (p) =>
    `${p.host}: ERASE every key of ${p.datacenter} under ${p.prefix} and copy ${p.sourceDatacenter}'s afresh (${p.command.join(' ')})`,
  irreversibleBecause: 'every key of the replica under the destination prefix is erased before the copy',
  async observe(p, env) {
    const keys = await keyCount(env, p.cluster, p.prefix);
    const recorded = await etcdOf(env, p.cluster, 'local')
      .get(p.indexKey)
      .then(
        (r) => r.node.value,
        () => undefined,
      );
    return { keys, recordedIndex: recorded };
  },
  plan: (p, b) => [
    {
      subject: `${p.datacenter} keys under ${p.prefix}`,
      from: `${b.keys} keys (ERASED)`,
      to: `a fresh copy of ${p.sourceDatacenter}`,
      detail: `recorded index now ${b.recordedIndex ?? 'absent'}`,
    },
  ],
  async apply(p, _b, env) {
    await mutateOn(
      env,
      p.host,
      argvCommand([
        'sh',
        '-c',
        'if systemctl is-active -q "$1"; then echo "$1 is running: stop it first" >&2; exit 1; fi',
        'check',
        p.unit,
      ]),
    );
    await mutateOn(env, p.host, argvCommand(['sh', '-c', RELOAD_SCRIPT, 'reload', ...p.command]), {
      timeoutMs: 240_000,
    });
  },
  async verify(p, _b, env) {
    const r = await etcdOf(env, p.cluster, 'local').get(p.indexKey, { quorum: true });
    if (!/^\d+$/.test(r.node.value ?? ''))
      throw new CheckError(
        `${p.datacenter}:${p.indexKey} holds ${JSON.stringify(r.node.value)} after the reload, not an index`,
      );
  },
});

/** Fails unless the mirror answers healthy on its HTTP endpoint with a lag of at most `maxLag` events. */
export async function checkMirrorCaughtUp(route: MirrorRoute, maxLag = 5): Promise<string> {
  const base = route.mirror.metricsUrl.replace(/\/metrics\/?$/, '').replace(/\/$/, '');
  const get = async (path: string) => {
    try {
      const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(2000) });
      return { status: res.status, body: (await res.text()).trim() };
    } catch (e) {
      throw new CheckError(
        `${route.mirror.unit} on ${route.mirror.host} does not answer on ${base}: ${(e as Error).message}`,
      );
    }
  };
  const [health, lag] = await Promise.all([get('/health'), get('/lag')]);
  if (health.status !== 200) throw new CheckError(`${route.mirror.unit} is not replicating: ${health.body}`);
  const events = Number(lag.body);
  if (!Number.isFinite(events) || events > maxLag)
    throw new CheckError(
      `${route.mirror.unit} lags ${lag.body} events behind ${route.sourceDatacenter} (at most ${maxLag} expected)`,
    );
  return `${route.mirror.unit} replicates ${route.sourceDatacenter} → ${route.datacenter}, lag ${events} event(s)`;
}
