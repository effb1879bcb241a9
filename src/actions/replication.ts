import type { GalleyConfig } from '../config/schema.js';
import { defineAction, type ActionEnv } from '../core/action.js';
import { CheckError, ConfigError, GuardError } from '../core/errors.js';
import {
  EtcdAllEndpointsFailedError,
  EtcdHttpError,
  EtcdKeyNotFoundError,
  EtcdUnreachableError,
  type EtcdNode,
  type EtcdVia,
} from '../etcd/index.js';
import { argvCommand } from '../ssh/command.js';
import { waitUntil } from '../util/wait.js';
import { etcdOf } from './etcd.js';
import { mutateOn, unitState } from './remote.js';
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
  const r = await etcdOf(env, cluster, 'local').get('/', { quorum: true });
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
    root = (await etcdOf(env, cluster, 'local').get(prefix, { recursive: true, quorum: true })).node;
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
  options: { exceptKeys?: string[] } = {},
): Promise<string> {
  const config = env.config();
  const r = replication(config);
  const ignore = new RegExp(r.ignoreKeysRegex);
  const [src, dst] = await Promise.all([
    replicatedKeys(env, clusterOfDatacenter(config, sourceDc), r.srcPrefix, ignore),
    replicatedKeys(env, clusterOfDatacenter(config, replicaDc), r.dstPrefix, ignore),
  ]);
  for (const k of options.exceptKeys ?? []) {
    src.delete(k);
    dst.delete(k);
  }
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

/** Transient etcd errors worth another attempt inside a wait (a member restarting, an election, a proxy reload). */
export const transientEtcd = (e: unknown): boolean =>
  e instanceof EtcdHttpError || e instanceof EtcdUnreachableError || e instanceof EtcdAllEndpointsFailedError;

/** Writes a canary through `fromDc` (its proxy, or its local client port) and waits until it shows in `toDc`. */
export async function checkReplicationFlows(
  env: ActionEnv,
  fromDc: string,
  toDc: string,
  runId: string,
  timeoutMs = 15_000,
  via: EtcdVia = 'proxy',
): Promise<string> {
  const config = env.config();
  const key = config.proxy?.canaryKey ?? '/galley/canary';
  const value = `replication check of run ${runId} at ${new Date().toISOString()}`;
  await waitUntil({
    what: `a write through ${fromDc}`,
    probe: () => etcdOf(env, clusterOfDatacenter(config, fromDc), via).set(key, value),
    timeoutMs: 10_000,
    retryOn: transientEtcd,
    signal: env.signal,
    timeoutError: (m) => new CheckError(m),
  });
  const dst = etcdOf(env, clusterOfDatacenter(config, toDc), 'local');
  await waitUntil({
    what: `a write through ${fromDc} (${key}) reaching ${toDc}`,
    probe: () =>
      dst.get(key).then(
        (x) => x.node.value,
        () => undefined,
      ),
    until: (seen) => seen === value,
    timeoutMs,
    intervalMs: 50,
    maxIntervalMs: 200,
    signal: env.signal,
    timeoutError: () =>
      new CheckError(
        `a write through ${fromDc} (${key}) did not reach ${toDc} within ${timeoutMs / 1000}s: replication ${fromDc} → ${toDc} does not flow`,
      ),
  });
  return `a write through ${fromDc} reached ${toDc}`;
}

/** How far replication `sourceDc` → `replicaDc` is behind: the source's etcd index minus the index the mirror recorded in the replica. */
export async function replicationLag(
  env: ActionEnv,
  sourceDc: string,
  replicaDc: string,
): Promise<{ sourceIndex: number; applied: number | undefined; lag: number }> {
  const config = env.config();
  const r = replication(config);
  const [sourceIndex, applied] = await Promise.all([
    etcdIndexOf(env, clusterOfDatacenter(config, sourceDc)),
    etcdOf(env, clusterOfDatacenter(config, replicaDc), 'local')
      .get(replicationIndexKey(r.dstPrefix), { quorum: true })
      .then(
        (x) => Number(x.node.value),
        (e) => (e instanceof EtcdKeyNotFoundError ? undefined : Promise.reject(e)),
      ),
  ]);
  return {
    sourceIndex,
    applied,
    lag:
      applied === undefined || Number.isNaN(applied)
        ? Number.POSITIVE_INFINITY
        : Math.max(0, sourceIndex - applied),
  };
}

/**
 * Waits until `replicaDc` provably holds everything `sourceDc` acknowledged: the mirror's
 * recorded index reached the source's index as read now, and the replicated prefixes compare
 * equal. The proof a rollback needs before it gives the writes back to the other side.
 */
export async function checkCaughtUp(
  env: ActionEnv,
  sourceDc: string,
  replicaDc: string,
  timeoutMs = 15_000,
): Promise<string> {
  const target = await waitUntil({
    what: `${sourceDc}'s etcd index`,
    probe: () => etcdIndexOf(env, clusterOfDatacenter(env.config(), sourceDc)),
    timeoutMs: 10_000,
    retryOn: transientEtcd,
    signal: env.signal,
  });
  let last: Awaited<ReturnType<typeof replicationLag>> | undefined;
  await waitUntil({
    what: `replication ${sourceDc} → ${replicaDc} caught up to index ${target}`,
    probe: async () => (last = await replicationLag(env, sourceDc, replicaDc)),
    until: (l) => l.applied !== undefined && l.applied >= target,
    timeoutMs,
    intervalMs: 50,
    maxIntervalMs: 250,
    retryOn: transientEtcd,
    signal: env.signal,
    timeoutError: () =>
      new CheckError(
        `replication ${sourceDc} → ${replicaDc} did not catch up to ${sourceDc}'s index ${target} within ${timeoutMs / 1000}s (it recorded ${last?.applied ?? 'nothing'})`,
        {
          suggestions: [
            'cookbook etcd.status: is etcdmirror running, is it lagging, did it stop on an inconsistency?',
          ],
        },
      ),
  });
  // The source may still take writes (a rollback's guard runs while TO is read-write): a write
  // between the two reads shows as a difference for the mirror's lag of a few milliseconds.
  // Compared again for a few seconds; a replica that really lacks a key fails at the end.
  const held = await waitUntil({
    what: `${replicaDc} holds every replicated key of ${sourceDc}`,
    probe: () => checkReplicaHoldsSource(env, sourceDc, replicaDc),
    timeoutMs: 5000,
    intervalMs: 50,
    maxIntervalMs: 200,
    retryOn: (e) => e instanceof CheckError || transientEtcd(e),
    signal: env.signal,
    timeoutError: (_m, last) => (last instanceof Error ? last : new CheckError(String(last))),
  });
  return `${held}; replication caught up to index ${target}`;
}

/** Fails unless replication `sourceDc` → `replicaDc` runs with its lag under `maxLag` events (read-only; retried for a few seconds). */
export async function checkReplicationRunning(
  env: ActionEnv,
  sourceDc: string,
  replicaDc: string,
  maxLag: number,
  timeoutMs = 5000,
): Promise<string> {
  const config = env.config();
  const m = replication(config).mirrors[replicaDc];
  if (!m) throw new CheckError(`no mirror into ${replicaDc} in ${config.file} (replication.mirrors)`);
  const active = await unitState(env, m.host, m.unit);
  if (active !== 'active')
    throw new CheckError(
      `${m.unit} on ${m.host} is ${active}: replication ${sourceDc} → ${replicaDc} is not running`,
    );
  let last: Awaited<ReturnType<typeof replicationLag>> | undefined;
  await waitUntil({
    what: `replication ${sourceDc} → ${replicaDc} with a lag under ${maxLag}`,
    probe: async () => (last = await replicationLag(env, sourceDc, replicaDc)),
    until: (l) => l.lag <= maxLag,
    timeoutMs,
    intervalMs: 100,
    maxIntervalMs: 500,
    retryOn: transientEtcd,
    signal: env.signal,
    timeoutError: () =>
      new CheckError(
        `replication ${sourceDc} → ${replicaDc} is ${last?.lag ?? '?'} events behind (bound ${maxLag}, replication.max_lag): ${m.unit} on ${m.host} is stalled or slow`,
        {
          suggestions: ["cookbook etcd.status; look at the unit's log on " + m.host],
        },
      ),
  });
  return `${m.unit} on ${m.host} active, ${last?.lag ?? 0} events behind`;
}

interface MirrorState {
  active: string;
}

export interface StartReplicationParams {
  host: string;
  unit: string;
  sourceDc: string;
  replicaDc: string;
  /** The lag (events) under which the mirror counts as caught up after the probe write. */
  maxLag: number;
  runId: string;
  /**
   * How the start is verified: `flow` (default), by a probe write into the source arriving in
   * the replica; `started`, only by the unit staying active, when the caller checks the flow
   * itself right after (the switchover does, once TO is read-write: the probe write and its
   * wait are then outside the read-only window).
   */
  verify?: 'flow' | 'started';
}

/**
 * Starts replication into a datacenter, verified by its effect: a probe write into the
 * source (through its local client port, which the read-only switch does not guard) arrives
 * in the replica, and the lag is back under the bound. The unit being active proves nothing.
 * Its undo stops the mirror only once the replica provably holds everything the source
 * acknowledged (guard): stopping it earlier would strand the source's writes.
 */
export const startReplication = defineAction<StartReplicationParams, MirrorState>({
  kind: 'replication.start',
  describe: (p) => `${p.host}: start ${p.unit} (replication ${p.sourceDc} → ${p.replicaDc})`,
  observe: async (p, env) => ({ active: await unitState(env, p.host, p.unit) }),
  plan: (p, b) =>
    b.active === 'active'
      ? []
      : [
          {
            subject: `${p.host} ${p.unit}`,
            from: b.active,
            to: `active, replicating ${p.sourceDc} → ${p.replicaDc}`,
          },
        ],
  resource: (p) => `unit:${p.host}:${p.unit}`,
  after: () => ({ active: 'active' }),
  async apply(p, _b, env) {
    await mutateOn(env, p.host, argvCommand(['systemctl', 'start', p.unit]));
  },
  async verify(p, _b, env) {
    if (p.verify === 'started') {
      const now = await unitState(env, p.host, p.unit);
      if (now !== 'active')
        throw new CheckError(
          `${p.unit} on ${p.host} is ${now} right after its start: replication ${p.sourceDc} → ${p.replicaDc} does not run`,
        );
      return;
    }
    await checkReplicationFlows(env, p.sourceDc, p.replicaDc, p.runId, 20_000, 'local');
    await checkReplicationRunning(env, p.sourceDc, p.replicaDc, p.maxLag, 10_000);
  },
  verifyTimeoutMs: 30_000,
  async guardUndo(p, _b, env) {
    try {
      await checkCaughtUp(env, p.sourceDc, p.replicaDc, 15_000);
    } catch (e) {
      // The index also moves with writes no client made (the canary of the verification, lock
      // refreshes, which are not replicated). This undo runs only once the source is read-only
      // again (or never was read-write: its undoBefore), so no client writes there meanwhile:
      // if the replica holds every replicated key but the canary, nothing is stranded.
      const canary = env.config().proxy?.canaryKey ?? '/galley/canary';
      const held = await checkReplicaHoldsSource(env, p.sourceDc, p.replicaDc, { exceptKeys: [canary] }).then(
        () => true,
        () => false,
      );
      if (held) return;
      throw new GuardError(
        `stopping replication ${p.sourceDc} → ${p.replicaDc} now would lose writes ${p.sourceDc} acknowledged: ${e instanceof Error ? e.message : String(e)}`,
        [
          `repair replication into ${p.replicaDc} (cookbook etcd.status; ${p.unit} on ${p.host}), then run the rollback again`,
        ],
      );
    }
  },
  async undo(p, b, env) {
    if (b.active !== 'active') await mutateOn(env, p.host, argvCommand(['systemctl', 'stop', p.unit]));
  },
  async verifyUndo(p, b, env) {
    const now = await unitState(env, p.host, p.unit);
    if ((now === 'active') !== (b.active === 'active'))
      throw new CheckError(`${p.unit} on ${p.host} is ${now}, expected ${b.active}`);
  },
  comparable: (s) => s.active === 'active',
});

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
