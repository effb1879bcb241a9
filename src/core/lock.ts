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

/** How a holder is shown in a LockHeldError: "owner since TIME (run ID)". */
export function describeHolder(h: Pick<LockHolder, 'owner' | 'since' | 'runId'>): string {
  return `${h.owner} since ${h.since} (run ${h.runId})`;
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
  return { name: request.name, owner: request.owner, runId: request.runId, concurrency, ttlMs };
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
    if (live.length >= r.concurrency) throw new LockHeldError(r.name, live.map(describeHolder));
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
