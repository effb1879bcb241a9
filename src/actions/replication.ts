import type { GalleyConfig } from '../config/schema.js';
import { defineAction, type ActionEnv } from '../core/action.js';
import { CheckError, ConfigError } from '../core/errors.js';
import { EtcdKeyNotFoundError, type EtcdNode } from '../etcd/index.js';
import { etcdOf } from './etcd.js';
import { clusterOfDatacenter } from './proxy.js';

/**
 * Replication between the datacenter clusters (etcdmirror): where it records its index, how
 * to tell that a replica holds everything its source does, and that writes flow.
 */

function replication(config: GalleyConfig) {
  if (!config.replication) throw new ConfigError(`${config.file} has no replication section`);
  return config.replication;
}

/** Where etcdmirror keeps the last source index it applied: /__replication<dst-prefix>, or /__replication/__ROOT__ for /. */
export function replicationIndexKey(dstPrefix: string): string {
  const p = dstPrefix.replace(/\/+$/, '');
  return p === '' ? '/__replication/__ROOT__' : `/__replication${p}`;
}

/** A cluster's current etcd index (X-Etcd-Index), read through its proxy. */
export async function etcdIndexOf(env: ActionEnv, cluster: string): Promise<number> {
  const r = await etcdOf(env, cluster).get('/', { quorum: true });
  if (r.etcdIndex === undefined)
    throw new CheckError(`${cluster} did not say its etcd index (no X-Etcd-Index header)`);
  return r.etcdIndex;
}

/** Every replicated key and value of a cluster under `prefix` (ignored keys and /__replication left out), keyed relative to the prefix. */
async function replicatedKeys(
  env: ActionEnv,
  cluster: string,
  prefix: string,
  ignore: RegExp,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let root: EtcdNode;
  try {
    root = (await etcdOf(env, cluster).get(prefix, { recursive: true, quorum: true })).node;
  } catch (e) {
    if (e instanceof EtcdKeyNotFoundError) return out;
    throw e;
  }
  const base = prefix.replace(/\/+$/, '');
  const walk = (n: EtcdNode) => {
    const key = n.key ?? '/';
    if (key.startsWith('/__replication') || ignore.test(key)) return;
    if (n.dir) for (const c of n.nodes ?? []) walk(c);
    else out.set(key.slice(base.length) || '/', n.value ?? '');
  };
  walk(root);
  return out;
}

/** Fails (naming the first differences) unless `replica` holds exactly the replicated keys of `source`. */
export async function checkReplicaHoldsSource(
  env: ActionEnv,
  sourceDc: string,
  replicaDc: string,
): Promise<string> {
  const config = env.config();
  const r = replication(config);
  const ignore = new RegExp(r.ignoreKeysRegex);
  const [src, dst] = await Promise.all([
    replicatedKeys(env, clusterOfDatacenter(config, sourceDc), r.srcPrefix, ignore),
    replicatedKeys(env, clusterOfDatacenter(config, replicaDc), r.dstPrefix, ignore),
  ]);
  const diffs: string[] = [];
  for (const [k, v] of src)
    if (dst.get(k) !== v)
      diffs.push(
        `${k}: ${sourceDc} ${JSON.stringify(v)}, ${replicaDc} ${dst.has(k) ? JSON.stringify(dst.get(k)) : 'absent'}`,
      );
  // Keys only the replica has were written there directly (not by replication): they do not
  // stop a switchover, but they will never reach the other side; say so.
  const extra = [...dst.keys()].filter((k) => !src.has(k));
  if (diffs.length) {
    throw new CheckError(
      `${replicaDc} does not hold what ${sourceDc} holds yet (${diffs.length} difference${diffs.length === 1 ? '' : 's'}): ${diffs.slice(0, 3).join('; ')}`,
      {
        suggestions: [
          'check etcdmirror (cookbook etcd.status): is it running, is it lagging, did it stop on an inconsistency?',
        ],
      },
    );
  }
  const note = extra.length
    ? `; WARNING: ${extra.length} key(s) only in ${replicaDc}, written there directly (${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', …' : ''})`
    : '';
  return `${replicaDc} holds the ${src.size} replicated keys of ${sourceDc}${note}`;
}

/** Writes a canary through `fromDc`'s proxy and waits until it shows in `toDc`. */
export async function checkReplicationFlows(
  env: ActionEnv,
  fromDc: string,
  toDc: string,
  runId: string,
  timeoutMs = 15_000,
): Promise<string> {
  const config = env.config();
  const key = config.proxy?.canaryKey ?? '/galley/canary';
  const value = `replication check of run ${runId} at ${new Date().toISOString()}`;
  await etcdOf(env, clusterOfDatacenter(config, fromDc)).set(key, value);
  const dst = etcdOf(env, clusterOfDatacenter(config, toDc));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = await dst.get(key).then(
      (x) => x.node.value,
      () => undefined,
    );
    if (seen === value) return `a write through ${fromDc} reached ${toDc}`;
    if (Date.now() > deadline)
      throw new CheckError(
        `a write through ${fromDc} (${key}) did not reach ${toDc} within ${timeoutMs / 1000}s`,
      );
    await new Promise((res) => setTimeout(res, 100));
  }
}

interface IndexState {
  exists: boolean;
  value?: string;
  sourceIndex: number;
}

/**
 * Records in `cluster` the index etcdmirror will replicate from: the source cluster's current
 * etcd index (read when applied). Written on the local client port, which the read-only
 * proxy does not guard (as the runbook does with curl on :2379). Undo restores the old value.
 */
export const setReplicationIndex = defineAction<
  { cluster: string; key: string; sourceCluster: string },
  IndexState
>({
  kind: 'replication.set-index',
  describe: (p) => `${p.cluster}: set ${p.key} to ${p.sourceCluster}'s etcd index`,
  async observe(p, env) {
    const sourceIndex = await etcdIndexOf(env, p.sourceCluster);
    try {
      const r = await etcdOf(env, p.cluster, 'local').get(p.key, { quorum: true });
      return { exists: true, value: r.node.value, sourceIndex };
    } catch (e) {
      if (e instanceof EtcdKeyNotFoundError) return { exists: false, sourceIndex };
      throw e;
    }
  },
  plan: (p, b) =>
    b.exists && b.value === String(b.sourceIndex)
      ? []
      : [
          {
            subject: `${p.cluster}:${p.key}`,
            from: b.exists ? String(b.value) : 'absent',
            to: `${p.sourceCluster}'s etcd index`,
            detail: `now ${b.sourceIndex}`,
          },
        ],
  async apply(p, _b, env) {
    const index = await etcdIndexOf(env, p.sourceCluster);
    await etcdOf(env, p.cluster, 'local').set(p.key, String(index));
  },
  async verify(p, _b, env) {
    const r = await etcdOf(env, p.cluster, 'local').get(p.key, { quorum: true });
    if (!/^\d+$/.test(r.node.value ?? ''))
      throw new CheckError(`${p.cluster}:${p.key} holds ${JSON.stringify(r.node.value)}, not an index`);
  },
  async undo(p, b, env) {
    const c = etcdOf(env, p.cluster, 'local');
    if (b.exists) await c.set(p.key, b.value ?? '');
    else
      await c.delete(p.key).catch((e) => (e instanceof EtcdKeyNotFoundError ? undefined : Promise.reject(e)));
  },
  comparable: (s) => ({ exists: s.exists, value: s.value }),
  async verifyUndo(p, b, env) {
    const now = await etcdOf(env, p.cluster, 'local')
      .get(p.key)
      .then(
        (r) => r.node.value,
        () => undefined,
      );
    if ((b.exists ? b.value : undefined) !== now)
      throw new CheckError(
        `${p.cluster}:${p.key} is ${JSON.stringify(now)}, expected ${JSON.stringify(b.value)}`,
      );
  },
});
