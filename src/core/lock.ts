import { hostname, userInfo } from 'node:os';
import { LockHeldError } from './errors.js';

/** What a run asks for before its first step. */
export interface LockRequest {
  /** The lock's name, e.g. `etcd.switchover` or `dns.switch:discovery.wmnet`. */
  name: string;
  /** Who holds it: "user@host [pid]". */
  owner: string;
  runId: string;
  /** How many runs may hold it at once (default 1). */
  concurrency?: number;
  /** How long the lock outlives a run that dies without releasing it (default 60 s). */
  ttlMs?: number;
  /**
   * Lock stores this run repairs and that cannot hold its lock (a disaster recovery of a
   * cluster without quorum): the lock is taken in the others.
   */
  without?: readonly string[];
}

/** A held lock. */
export interface LockHandle {
  readonly name: string;
  /** Gives the lock back; releasing twice is harmless. */
  release(): Promise<void>;
}

/** Takes locks for the Runner; a lock held by enough other runs throws {@link LockHeldError}. */
export interface LockManager {
  acquire(request: LockRequest): Promise<LockHandle>;
}

/** One holder of a lock, as shown to a blocked run. */
export interface LockHolder {
  owner: string;
  runId: string;
  /** ISO 8601 time the holder took the lock. */
  since: string;
  concurrency: number;
  /** ISO 8601 time the lock expires unless its holder refreshes it (when the store knows). */
  expires?: string;
}

export const DEFAULT_LOCK_TTL_MS = 60_000;

/** Who runs this process: the user behind sudo (SUDO_USER) when there is one, as audit logs want. */
export function currentUser(): string {
  let user = process.env.SUDO_USER ?? process.env.USER ?? '';
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = 'unknown';
    }
  }
  return user;
}

/** "user@host [pid]" of this process. */
export function currentOwner(): string {
  return `${currentUser()}@${hostname()} [${process.pid}]`;
}

/**
 * Whether an owner ("user@host [pid]") names a process of this host that no longer exists:
 * its lock outlives it until the TTL passes. False when the host is another one, or the PID lives.
 */
export function ownerIsDead(
  owner: string,
  host: string = hostname(),
  isAlive: (pid: number) => boolean = pidAlive,
): boolean {
  const m = /^[^@]*@(.+) \[(\d+)\]$/.exec(owner);
  if (!m || m[1] !== host) return false;
  return !isAlive(Number(m[2]));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * How a holder is shown in a LockHeldError: "owner since TIME (run ID)", then when it
 * expires, and that its holder is dead when it names a PID of this host that is gone.
 */
export function describeHolder(
  h: Pick<LockHolder, 'owner' | 'since' | 'runId' | 'expires'>,
  o: { host?: string; isAlive?: (pid: number) => boolean } = {},
): string {
  const dead = ownerIsDead(h.owner, o.host, o.isAlive);
  const expires = h.expires ? `; it expires at ${h.expires} unless refreshed` : '';
  return `${h.owner} since ${h.since} (run ${h.runId})${expires}${dead ? `; its holder is dead (no process ${/\[(\d+)\]$/.exec(h.owner)?.[1]} on this host): it frees itself ${h.expires ? `at ${h.expires}` : 'when its TTL passes'}` : ''}`;
}

/** Checks a request and fills in the defaults. */
export function normalizeLockRequest(request: LockRequest): Required<LockRequest> {
  const concurrency = request.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new Error(
      `lock ${request.name}: concurrency must be a whole number of at least 1, not ${concurrency}`,
    );
  }
  const ttlMs = request.ttlMs ?? DEFAULT_LOCK_TTL_MS;
  if (!(ttlMs > 0)) throw new Error(`lock ${request.name}: ttlMs must be positive, not ${ttlMs}`);
  if (!request.name) throw new Error('a lock needs a name');
  return {
    name: request.name,
    owner: request.owner,
    runId: request.runId,
    concurrency,
    ttlMs,
    without: request.without ?? [],
  };
}

/**
 * Locks in this process only, for unit tests and single-process use: `concurrency` slots per
 * name, a holder's slot is freed on release or when its TTL passes (checked on acquire).
 */
export class InMemoryLockManager implements LockManager {
  readonly #held = new Map<string, Array<LockHolder & { id: number; expiresAt: number }>>();
  readonly #now: () => number;
  #nextId = 1;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Current holders of a lock (expired ones left out). */
  holders(name: string): LockHolder[] {
    return this.#live(name).map(({ owner, runId, since, concurrency }) => ({
      owner,
      runId,
      since,
      concurrency,
    }));
  }

  async acquire(request: LockRequest): Promise<LockHandle> {
    const r = normalizeLockRequest(request);
    const live = this.#live(r.name);
    if (live.length >= r.concurrency)
      throw new LockHeldError(
        r.name,
        live.map((h) => describeHolder({ ...h, expires: new Date(h.expiresAt).toISOString() })),
      );
    const id = this.#nextId++;
    const now = this.#now();
    live.push({
      id,
      owner: r.owner,
      runId: r.runId,
      since: new Date(now).toISOString(),
      concurrency: r.concurrency,
      expiresAt: now + r.ttlMs,
    });
    this.#held.set(r.name, live);
    return {
      name: r.name,
      release: async () => {
        const rest = (this.#held.get(r.name) ?? []).filter((h) => h.id !== id);
        if (rest.length) this.#held.set(r.name, rest);
        else this.#held.delete(r.name);
      },
    };
  }

  #live(name: string): Array<LockHolder & { id: number; expiresAt: number }> {
    const now = this.#now();
    return (this.#held.get(name) ?? []).filter((h) => h.expiresAt > now);
  }
}
