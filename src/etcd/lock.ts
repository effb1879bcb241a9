import type { GalleyConfig } from '../config/schema.js';
import { ConfigError, LockHeldError } from '../core/errors.js';
import {
  describeHolder,
  normalizeLockRequest,
  ownerIsDead,
  type LockHandle,
  type LockHolder,
  type LockManager,
  type LockRequest,
} from '../core/lock.js';
import type { EtcdClient, EtcdNode } from './client.js';
import { EtcdKeyNotFoundError, EtcdError, EtcdReadOnlyError } from './errors.js';
import { etcdClientFor, lockClusterOf } from './factory.js';
import { keepAlive } from './keep-alive.js';
import { SpicerackLockManager } from './spicerack-lock.js';
import { lockSegment, normalizeKey } from './url.js';

export interface EtcdLockManagerOptions {
  client: EtcdClient;
  /** Directory under which every lock lives (config etcd.lock_prefix), e.g. `/galley/locks`. */
  prefix: string;
  /** Where warnings go (a refresh that failed, a lock lost); default: nowhere. */
  warn?: (message: string) => void;
  now?: () => Date;
  /**
   * Where a release goes when the proxy refuses it because the cluster went read-only during
   * the run (a switchover does that to the lock's cluster): a member's local client port, which
   * the read-only switch does not guard, as the runbook does with curl on :2379. Without it,
   * such a lock is left to expire by its TTL.
   */
  releaseClient?: EtcdClient;
}

export { lockSegment } from './url.js';

/** The directory that holds a lock's holder keys. */
export function lockDir(prefix: string, name: string): string {
  return normalizeKey(`${normalizeKey(prefix)}/${lockSegment(name)}`);
}

/** Reads a holder key's value; a value that is not ours still names its key. */
export function parseHolder(node: EtcdNode): LockHolder {
  try {
    const v = JSON.parse(node.value ?? '') as Partial<LockHolder>;
    if (typeof v.owner === 'string' && typeof v.runId === 'string') {
      return {
        owner: v.owner,
        runId: v.runId,
        since: String(v.since ?? '?'),
        concurrency: Number(v.concurrency ?? 1),
        ...(node.expiration ? { expires: node.expiration } : {}),
      };
    }
  } catch {
    // fall through
  }
  return { owner: `unknown holder ${node.key}`, runId: '?', since: '?', concurrency: 1 };
}

/** Holder keys of a lock directory, oldest first (etcd's in-order keys sort by creation). */
export function holderNodes(dir: EtcdNode | undefined): EtcdNode[] {
  return (dir?.nodes ?? []).filter((n) => !n.dir).sort((a, b) => a.createdIndex - b.createdIndex);
}

/**
 * Locks in etcd. Each holder is an in-order key with a TTL under `<prefix>/<name>/`, whose
 * value says who holds it ({owner, runId, since, concurrency}). A run creates its key, then
 * reads the directory (quorum read): it holds the lock if fewer than `concurrency` keys were
 * created before its own, otherwise it deletes its key and throws LockHeldError naming the
 * holders. Two runs racing are ordered by etcd's index, so at most `concurrency` win (in a
 * race a run may be refused by a contender that backs off too; it never gets in wrongly).
 * The key is refreshed every third of its TTL while the run lives (the timer does not keep
 * the process alive) and deleted on release; a run that dies leaves it to expire.
 */
export class EtcdLockManager implements LockManager {
  readonly #client: EtcdClient;
  readonly #prefix: string;
  readonly #warn: (message: string) => void;
  readonly #now: () => Date;
  readonly #releaseClient: EtcdClient | undefined;

  constructor(options: EtcdLockManagerOptions) {
    this.#releaseClient = options.releaseClient;
    this.#client = options.client;
    this.#prefix = normalizeKey(options.prefix);
    this.#warn = options.warn ?? (() => undefined);
    this.#now = options.now ?? (() => new Date());
  }

  /** Current holders of a lock, oldest first. */
  async holders(name: string): Promise<LockHolder[]> {
    try {
      const res = await this.#client.get(lockDir(this.#prefix, name), { sorted: true, quorum: true });
      return holderNodes(res.node).map(parseHolder);
    } catch (e) {
      if (e instanceof EtcdKeyNotFoundError) return [];
      throw e;
    }
  }

  async acquire(request: LockRequest): Promise<LockHandle> {
    const r = normalizeLockRequest(request);
    const dir = lockDir(this.#prefix, r.name);
    const ttlSeconds = Math.max(1, Math.ceil(r.ttlMs / 1000));
    const holder: LockHolder = {
      owner: r.owner,
      runId: r.runId,
      since: this.#now().toISOString(),
      concurrency: r.concurrency,
    };
    const created = await this.#client.createInOrder(dir, JSON.stringify(holder), { ttlSeconds });
    const myKey = created.node.key;

    let ahead: EtcdNode[];
    try {
      const listing = await this.#client.get(dir, { sorted: true, quorum: true });
      const nodes = holderNodes(listing.node);
      const rank = nodes.findIndex((n) => n.key === myKey);
      if (rank < 0)
        throw new Error(
          `lock ${r.name}: the holder key ${myKey} vanished right after it was created (TTL ${ttlSeconds}s too short?)`,
        );
      ahead = nodes.slice(0, rank);
    } catch (e) {
      await this.#deleteQuietly(myKey);
      throw e;
    }
    // A holder that was a process of this host that no longer exists died without releasing
    // (SIGKILL, a crash, a member gone under its release): its key is taken back, not waited for.
    // So is a holder that is an earlier attempt of this very run, when a resume took it over.
    const earlier = (n: EtcdNode) => r.takeOver && parseHolder(n).runId === r.runId;
    const dead = ahead.filter((n) => ownerIsDead(parseHolder(n).owner) || earlier(n));
    for (const n of dead) {
      try {
        await this.#client.delete(n.key, { prevValue: n.value ?? '' });
        this.#warn(
          earlier(n)
            ? `lock ${r.name}: took it back from ${parseHolder(n).owner}, the earlier attempt of this run`
            : `lock ${r.name}: took it back from ${parseHolder(n).owner}, a process of this host that no longer exists`,
        );
      } catch (e) {
        if (!(e instanceof EtcdError)) throw e;
      }
    }
    if (dead.length) ahead = ahead.filter((n) => !dead.includes(n));
    if (ahead.length >= r.concurrency) {
      await this.#deleteQuietly(myKey);
      throw new LockHeldError(
        r.name,
        ahead.map((n) => describeHolder(parseHolder(n))),
      );
    }
    return this.#handle(r.name, dir, myKey, ttlSeconds, r.ttlMs);
  }

  #handle(name: string, dir: string, key: string, ttlSeconds: number, ttlMs: number): LockHandle {
    const beat = keepAlive(async (lost) => {
      try {
        await this.#client.refreshTtl(key, ttlSeconds, { timeoutMs: Math.max(1000, Math.floor(ttlMs / 3)) });
      } catch (e) {
        if (beat.stopped) return;
        if (e instanceof EtcdKeyNotFoundError) {
          lost();
          this.#warn(
            `lock ${name} was lost: its key ${key} expired or was deleted; another run may now take it`,
          );
        } else {
          this.#warn(
            `could not refresh lock ${name} (${key}): ${e instanceof Error ? e.message : String(e)}; retrying`,
          );
        }
      }
    }, ttlMs);
    return {
      name,
      release: async () => {
        if (beat.stopped) return;
        await beat.stop();
        let client = this.#client;
        try {
          await this.#deleteQuietly(key);
        } catch (e) {
          if (!(e instanceof EtcdReadOnlyError) || !this.#releaseClient) throw e;
          client = this.#releaseClient;
          await this.#deleteQuietly(key, client);
        }
        try {
          await client.delete(dir, { dir: true });
        } catch (e) {
          if (!(e instanceof EtcdError)) throw e; // not empty (other holders) or gone: fine
        }
      },
    };
  }

  async #deleteQuietly(key: string, client: EtcdClient = this.#client): Promise<void> {
    try {
      await client.delete(key);
    } catch (e) {
      if (!(e instanceof EtcdKeyNotFoundError)) throw e;
    }
  }
}

/**
 * The lock manager of a config: locks live in the master cluster (or the first one), through
 * its proxy, under etcd.lock_prefix.
 */
export function etcdLockManagerFor(
  config: GalleyConfig,
  options: { client?: EtcdClient; releaseClient?: EtcdClient; warn?: (message: string) => void } = {},
): EtcdLockManager {
  const client = options.client ?? etcdClientFor(config, lockClusterOf(config), { via: 'proxy' });
  return new EtcdLockManager({
    client,
    prefix: config.etcd.lockPrefix,
    warn: options.warn,
    releaseClient: options.releaseClient,
  });
}

/**
 * One lock across several clusters: taken in each, always in the same order (by cluster
 * name), so that two runs contend on the first cluster and at most one gets past it; a run
 * refused by a later cluster gives back what it took. Released in every cluster.
 */
export class MultiClusterLockManager implements LockManager {
  constructor(
    readonly managers: readonly {
      cluster: string;
      manager: LockManager & { holders(name: string): LockHolder[] | Promise<LockHolder[]> };
    }[],
  ) {}

  async acquire(request: LockRequest): Promise<LockHandle> {
    const taken: LockHandle[] = [];
    try {
      for (const { cluster, manager } of this.managers)
        if (!request.without?.includes(cluster)) taken.push(await manager.acquire(request));
    } catch (e) {
      await Promise.allSettled(taken.map((h) => h.release()));
      throw e;
    }
    return {
      name: request.name,
      release: async () => {
        const results = await Promise.allSettled(taken.map((h) => h.release()));
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      },
    };
  }

  /** The holders of a lock in each cluster. */
  async holders(name: string): Promise<Record<string, LockHolder[]>> {
    const out: Record<string, LockHolder[]> = {};
    for (const { cluster, manager } of this.managers) out[cluster] = await manager.holders(name);
    return out;
  }
}

/**
 * The lock manager of runs: every lock is taken in every etcd cluster of the config, through
 * the members' local client ports. The proxies' read-only switch does not guard those, so
 * every run sees the same lock whichever datacenter is the master and whatever the read-only
 * state (a resume or rollback inside a switchover's read-only window takes it too). Lock keys
 * must be excluded from replication (replication.ignore_keys_regex), or the mirror would copy
 * one cluster's holders into the other. etcd.lock_layout `spicerack` lays the keys out as
 * spicerack does (see SpicerackLockManager).
 */
export function runLockManager(
  config: GalleyConfig,
  env: {
    service<T>(key: string, create: () => T, close?: (t: T) => Promise<void> | void): T;
    log: { warn(m: string): void };
  },
): MultiClusterLockManager {
  const prefix = normalizeKey(config.etcd.lockPrefix);
  const ignore = config.replication?.ignoreKeysRegex;
  if (config.replication && (!ignore || !new RegExp(ignore).test(`${prefix}/x`))) {
    throw new ConfigError(
      `etcd.lock_prefix ${prefix} is not excluded from replication (replication.ignore_keys_regex ${JSON.stringify(ignore ?? '')}): locks taken in both clusters would be replicated`,
      [
        `add it to ignore_keys_regex, e.g. "^/(spicerack/locks/etcd|${prefix.replace(/^\//, '')})(/|$)", and to etcdmirror's --src-ignore-keys-regex`,
      ],
    );
  }
  // Clusters that are defined but not serving yet (before etcd.bootstrap) hold no locks.
  const clusters = Object.keys(config.etcd.clusters)
    .filter((c) => config.etcd.clusters[c]!.inService !== false)
    .sort();
  return new MultiClusterLockManager(
    clusters.map((cluster) => ({
      cluster,
      manager: new (config.etcd.lockLayout === 'spicerack' ? SpicerackLockManager : EtcdLockManager)({
        client: env.service(
          `etcd:${cluster}:local:locks`,
          () => etcdClientFor(config, cluster, { via: 'local' }),
          (c) => c.close(),
        ),
        prefix,
        warn: (m: string) => env.log.warn(`${cluster}: ${m}`),
      }),
    })),
  );
}
