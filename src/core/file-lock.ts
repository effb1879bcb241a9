import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { LockHeldError } from './errors.js';
import {
  type LockHandle,
  type LockHolder,
  type LockManager,
  type LockRequest,
  describeHolder,
  normalizeLockRequest,
} from './lock.js';

interface FileHolder extends LockHolder {
  pid: number;
  host: string;
  expiresAt: number;
}

/**
 * Locks shared by the runs of one machine, in files under the state directory: used when the
 * config has no etcd cluster to hold locks (the sample cookbook). Holders whose process is gone
 * or whose TTL passed are dropped.
 */
export class FileLockManager implements LockManager {
  constructor(private readonly dir: string) {}

  async acquire(request: LockRequest): Promise<LockHandle> {
    const r = normalizeLockRequest(request);
    mkdirSync(this.dir, { recursive: true });
    const file = join(this.dir, `${encodeURIComponent(r.name)}.json`);
    const me: FileHolder = {
      owner: r.owner,
      runId: r.runId,
      since: new Date().toISOString(),
      concurrency: r.concurrency,
      pid: process.pid,
      host: hostname(),
      // Not refreshed: a live process keeps it; a dead one (same host) frees it; a week is the backstop.
      expiresAt: Date.now() + 7 * 24 * 3600 * 1000,
    };
    await this.#update(file, (holders) => {
      if (holders.length >= r.concurrency)
        throw new LockHeldError(
          r.name,
          holders.map((h) => describeHolder(h)),
        );
      return [...holders, me];
    });
    return {
      name: r.name,
      release: () =>
        this.#update(file, (holders) =>
          holders.filter((h) => !(h.pid === me.pid && h.runId === me.runId)),
        ).then(() => undefined),
    };
  }

  async #update(file: string, change: (holders: FileHolder[]) => FileHolder[]): Promise<void> {
    const mutex = `${file}.mutex`;
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        closeSync(openSync(mutex, 'wx'));
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || Date.now() > deadline) throw e;
        await new Promise((res) => setTimeout(res, 20));
      }
    }
    try {
      let holders: FileHolder[] = [];
      try {
        holders = JSON.parse(readFileSync(file, 'utf8')) as FileHolder[];
      } catch {
        holders = [];
      }
      holders = holders.filter((h) => h.expiresAt > Date.now() && (h.host !== hostname() || alive(h.pid)));
      writeFileSync(file, JSON.stringify(change(holders)));
    } finally {
      rmSync(mutex, { force: true });
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
