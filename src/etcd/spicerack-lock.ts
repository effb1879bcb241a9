import { randomUUID } from 'node:crypto';
import { LockHeldError } from '../core/errors.js';
import {
  describeHolder,
  normalizeLockRequest,
  ownerIsDead,
  type LockHandle,
  type LockHolder,
  type LockManager,
  type LockRequest,
} from '../core/lock.js';
import { sleep } from '../util/wait.js';
import type { EtcdClient } from './client.js';
import { EtcdCompareFailedError, EtcdKeyNotFoundError, EtcdNodeExistsError } from './errors.js';
import { keepAlive } from './keep-alive.js';
import { lockSegment, normalizeKey } from './url.js';

/**
 * One holder in spicerack's layout: the value of `/spicerack/locks/cookbooks/NAME` is a JSON
 * object of holders by id, each `{concurrency, created, owner, ttl}` (spicerack's
 * `ConcurrentLock.to_dict`; spicerack refuses any other field). `created` is UTC without a
 * zone (`2026-12-01 23:00:06.123000`); a holder is expired once `created + ttl` has passed.
 */
export interface SpicerackHolder {
  concurrency: number;
  created: string;
  owner: string;
  ttl: number;
}

/** Galley's holder ids carry the run id (`galley:RUN:UUID`); spicerack's are bare UUIDs. */
export function holderId(runId: string): string {
  return `galley:${runId}:${randomUUID()}`;
}

function runIdOf(id: string): string {
  return /^galley:([^:]+):/.exec(id)?.[1] ?? `spicerack lock ${id}`;
}

/** `created` as spicerack writes it: `str(datetime.utcnow())`, microseconds always shown. */
export function spicerackTime(d: Date): string {
  return `${d.toISOString().replace('T', ' ').replace('Z', '')}000`;
}

/** Milliseconds since the epoch of a spicerack `created` (UTC, no zone; 0 to 6 fraction digits). */
export function parseSpicerackTime(s: string): number {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?$/.exec(s);
  if (!m) return NaN;
  return Date.parse(`${m[1]}T${m[2]}.${(m[3] ?? '0').padEnd(3, '0').slice(0, 3)}Z`);
}

/** Whether an entry of a lock key's value is a holder (spicerack's ConcurrentLock.to_dict). */
export function isHolder(v: unknown): v is SpicerackHolder {
  const h = v as Partial<SpicerackHolder> | null;
  return typeof h === 'object' && h !== null && typeof h.owner === 'string' && typeof h.ttl === 'number';
}

/** The entries of a lock key's value that are not holders. */
function foreignEntries(locks: Record<string, SpicerackHolder>): Record<string, SpicerackHolder> {
  return Object.fromEntries(Object.entries(locks).filter(([, v]) => !isHolder(v)));
}

/** Parses a lock key's value; a value that is not spicerack's layout is an error naming the key. */
export function parseSpicerackLocks(key: string, value: string | undefined): Record<string, SpicerackHolder> {
  let v: unknown;
  try {
    v = JSON.parse(value ?? '');
  } catch {
    v = undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new Error(`the lock key ${key} does not hold spicerack's lock layout (a JSON object of holders)`);
  return v as Record<string, SpicerackHolder>;
}

export interface SpicerackLockManagerOptions {
  client: EtcdClient;
  /** Directory of the lock keys: `/spicerack/locks/cookbooks` (etcd.lock_prefix). */
  prefix: string;
  warn?: (message: string) => void;
  now?: () => Date;
  /** How long to try for spicerack's short writer lock (`/spicerack/locks/etcd`); default 15 s. */
  writerWaitMs?: number;
}

/**
 * Locks in spicerack's key layout, so that Galley runs and spicerack cookbooks exclude each
 * other: one key per lock, `<prefix>/<name>`, whose value holds every holder. Like spicerack,
 * a change is a read-modify-write made while holding spicerack's writer lock (an in-order key
 * under `/spicerack/locks/etcd`, held while it is the first one), and it is also written with
 * compare-and-swap on the key's index, so a writer that skipped the writer lock cannot be lost.
 * Expired holders are dropped as spicerack does; a holder that is a dead process of this host
 * is taken back. Galley's holder refreshes its `created` every third of its TTL while it runs.
 */
export class SpicerackLockManager implements LockManager {
  readonly #c: EtcdClient;
  readonly #prefix: string;
  readonly #writerDir: string;
  readonly #warn: (m: string) => void;
  readonly #now: () => Date;
  readonly #writerWaitMs: number;

  constructor(o: SpicerackLockManagerOptions) {
    this.#c = o.client;
    this.#prefix = normalizeKey(o.prefix);
    // spicerack's writer lock lives beside the cookbooks' directory: /spicerack/locks/etcd.
    this.#writerDir = normalizeKey(`${this.#prefix.replace(/\/[^/]+$/, '') || '/'}/etcd`);
    this.#warn = o.warn ?? (() => undefined);
    this.#now = o.now ?? (() => new Date());
    this.#writerWaitMs = o.writerWaitMs ?? 15_000;
  }

  key(name: string): string {
    return normalizeKey(`${this.#prefix}/${lockSegment(name)}`);
  }

  /** Live holders of a lock (expired ones left out), oldest first. */
  async holders(name: string): Promise<LockHolder[]> {
    const { locks } = await this.#read(name);
    return this.#live(locks).map(([id, h]) => this.#holder(id, h));
  }

  async acquire(request: LockRequest): Promise<LockHandle> {
    const r = normalizeLockRequest(request);
    const id = holderId(r.runId);
    const ttl = Math.max(1, Math.ceil(r.ttlMs / 1000));
    await this.#modify(r.name, (locks) => {
      const live = this.#live(locks);
      const earlier = (hid: string) => r.takeOver && runIdOf(hid) === r.runId;
      const dead = live.filter(([hid, h]) => ownerIsDead(h.owner) || earlier(hid));
      for (const [hid, h] of dead)
        this.#warn(
          earlier(hid)
            ? `lock ${r.name}: took it back from ${h.owner}, the earlier attempt of this run`
            : `lock ${r.name}: took it back from ${h.owner}, a process of this host that no longer exists`,
        );
      const others = live.filter((x) => !dead.includes(x));
      // spicerack's rule: refused when any holder's (non-zero) concurrency is reached, or ours is.
      const limits = [r.concurrency, ...others.map(([, h]) => h.concurrency)].filter((c) => c > 0);
      if (others.length >= Math.min(...limits))
        throw new LockHeldError(
          r.name,
          others.map(([oid, h]) => describeHolder(this.#holder(oid, h))),
        );
      // Entries that are not holders (another tool's fields) are kept as they are.
      const next: Record<string, SpicerackHolder> = {
        ...foreignEntries(locks),
        ...Object.fromEntries(others),
      };
      next[id] = { concurrency: r.concurrency, created: spicerackTime(this.#now()), owner: r.owner, ttl };
      return next;
    });
    return this.#handle(r.name, id, r.ttlMs);
  }

  #handle(name: string, id: string, ttlMs: number): LockHandle {
    const beat = keepAlive(async (lost) => {
      try {
        await this.#modify(name, (locks) => {
          const mine = locks[id];
          if (!mine) {
            lost();
            this.#warn(
              `lock ${name} was lost: its holder ${id} expired or was removed; another run may now take it`,
            );
            return undefined;
          }
          return { ...locks, [id]: { ...mine, created: spicerackTime(this.#now()) } };
        });
      } catch (e) {
        if (!beat.stopped) this.#warn(`could not refresh lock ${name}: ${(e as Error).message}; retrying`);
      }
    }, ttlMs);
    return {
      name,
      release: async () => {
        if (beat.stopped) return;
        await beat.stop();
        await this.#modify(name, (locks) => {
          if (!(id in locks)) return undefined;
          const rest = { ...locks };
          delete rest[id];
          // No holder left: the key is deleted, as spicerack does (foreign entries kept if any).
          return Object.values(rest).some(isHolder) ? rest : foreignEntries(rest);
        });
      },
    };
  }

  #holder(id: string, h: SpicerackHolder): LockHolder {
    const created = parseSpicerackTime(String(h.created));
    return {
      owner: String(h.owner),
      runId: runIdOf(id),
      since: Number.isNaN(created) ? String(h.created) : new Date(created).toISOString(),
      concurrency: Number(h.concurrency),
      ...(Number.isNaN(created) ? {} : { expires: new Date(created + Number(h.ttl) * 1000).toISOString() }),
    };
  }

  /** Holders not expired (a `created` that cannot be read counts as live), oldest first. */
  #live(locks: Record<string, SpicerackHolder>): [string, SpicerackHolder][] {
    const now = this.#now().getTime();
    return Object.entries(locks)
      .filter(([, h]) => isHolder(h))
      .filter(([, h]) => {
        const created = parseSpicerackTime(String(h.created));
        return Number.isNaN(created) || created + Number(h.ttl) * 1000 >= now;
      })
      .sort(([, a], [, b]) => (String(a.created) < String(b.created) ? -1 : 1));
  }

  async #read(name: string): Promise<{ locks: Record<string, SpicerackHolder>; index?: number }> {
    const key = this.key(name);
    try {
      const res = await this.#c.get(key, { quorum: true });
      return { locks: parseSpicerackLocks(key, res.node.value), index: res.node.modifiedIndex };
    } catch (e) {
      if (e instanceof EtcdKeyNotFoundError) return { locks: {} };
      throw e;
    }
  }

  /**
   * Read-modify-write of a lock key under spicerack's writer lock. `change` returns the new
   * holders (an empty object deletes the key, as spicerack does) or undefined for no write.
   */
  async #modify(
    name: string,
    change: (locks: Record<string, SpicerackHolder>) => Record<string, SpicerackHolder> | undefined,
  ): Promise<void> {
    const key = this.key(name);
    const writer = await this.#writerLock();
    try {
      for (let attempt = 0; ; attempt++) {
        const { locks, index } = await this.#read(name);
        const next = change(locks);
        if (!next) return;
        try {
          if (!Object.keys(next).length) {
            if (index !== undefined) await this.#c.delete(key, { prevIndex: index });
          } else if (index === undefined) await this.#c.create(key, JSON.stringify(next));
          else await this.#c.compareAndSwap(key, JSON.stringify(next), { prevIndex: index });
          return;
        } catch (e) {
          const raced =
            e instanceof EtcdCompareFailedError ||
            e instanceof EtcdNodeExistsError ||
            e instanceof EtcdKeyNotFoundError;
          if (!raced || attempt >= 20) throw e;
        }
      }
    } finally {
      await this.#c.delete(writer).catch(() => undefined);
    }
  }

  /** Takes spicerack's writer lock: an in-order key (TTL 15 s) that holds it while it is the first. */
  async #writerLock(): Promise<string> {
    const deadline = Date.now() + this.#writerWaitMs;
    for (;;) {
      const mine = (await this.#c.createInOrder(this.#writerDir, randomUUID(), { ttlSeconds: 15 })).node.key;
      const listing = await this.#c.get(this.#writerDir, { sorted: true, quorum: true });
      // As python-etcd's Lock: the in-order keys (zero-padded indexes) sorted by name; the first holds it.
      const first = (listing.node.nodes ?? [])
        .filter((n) => !n.dir && /^\d+$/.test(n.key.split('/').pop() ?? ''))
        .sort((a, b) => (a.key < b.key ? -1 : 1))[0];
      if (first?.key === mine) return mine;
      await this.#c.delete(mine).catch(() => undefined);
      if (Date.now() >= deadline)
        throw new Error(
          `could not take spicerack's writer lock ${this.#writerDir} within ${this.#writerWaitMs / 1000}s (held by ${first?.key ?? '?'})`,
        );
      await sleep(100 + Math.floor(Math.random() * 200));
    }
  }
}
