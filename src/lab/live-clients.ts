/**
 * Live clients of the lab (for the switchover tests and the benchmark), as conftool's clients
 * behave: writers that find the master through the conftool SRV record and a watcher holding
 * a recursive watch. Each records every write etcd acknowledged, so that a test can prove
 * none was lost. They run in the test process, against the real lab, over the proxies.
 */
import {
  etcdClientFor,
  EtcdKeyNotFoundError,
  EtcdReadOnlyError,
  type EtcdClient,
  type EtcdNode,
} from '../etcd/index.js';
import { query, zoneFor, queryOptions } from '../dns/index.js';
import type { GalleyConfig } from '../config/schema.js';

/** Where the live clients write: one directory per writer, one key per write. */
export const LIVE_PREFIX = '/galley-live';

export interface Ack {
  key: string;
  value: string;
  /** Milliseconds since the epoch when the acknowledgement arrived. */
  at: number;
  /** The datacenter whose proxy acknowledged it. */
  dc: string;
}

export interface WriterRecord {
  name: string;
  acks: Ack[];
  /** Times (ms) writes were refused or failed, with the datacenter they were sent to. */
  refusals: { at: number; dc: string; why: string }[];
  /** How many times the SRV record was resolved. */
  resolutions: number;
}

interface Resolved {
  targets: string[];
  ttlSeconds: number;
  at: number;
}

/** Resolves the conftool SRV record on the first authoritative server that answers. */
async function resolveSrv(config: GalleyConfig): Promise<Resolved> {
  const name = config.replication!.rwSrvRecord;
  const zone = zoneFor(config, name);
  let last: unknown;
  for (const server of zone.servers) {
    try {
      const r = await query(server, name, 'SRV', { ...queryOptions(config), timeoutMs: 500, retries: 0 });
      const targets = r.records.map((x) => (x.data as { target: string }).target.replace(/\.$/, ''));
      if (targets.length) return { targets, ttlSeconds: r.records[0]!.ttl, at: Date.now() };
    } catch (e) {
      last = e;
    }
  }
  throw new Error(`no authoritative server answered for ${name}: ${String(last)}`);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A writer. `reresolve: 'on-refusal'` resolves the SRV record again after any refusal or
 * failure (and when the TTL passes); `'ttl'` honours the TTL strictly and keeps sending to
 * the cached target until it expires, refusals or not.
 */
export class LiveWriter {
  readonly record: WriterRecord;
  #stop = false;
  #done: Promise<void> | undefined;
  readonly #clients = new Map<string, EtcdClient>();

  constructor(
    readonly config: GalleyConfig,
    name: string,
    readonly o: { reresolve: 'on-refusal' | 'ttl'; intervalMs: number },
  ) {
    this.record = { name, acks: [], refusals: [], resolutions: 0 };
  }

  #client(target: string): { client: EtcdClient; dc: string } {
    const dc = this.config.hosts[target]?.datacenter;
    if (!dc) throw new Error(`the SRV record names ${target}, not a host of the lab`);
    const cluster = Object.values(this.config.etcd.clusters).find((c) => c.datacenter === dc)!.name;
    if (!this.#clients.has(target))
      this.#clients.set(
        target,
        etcdClientFor(this.config, cluster, { via: 'proxy', members: [target], timeoutMs: 2000 }),
      );
    return { client: this.#clients.get(target)!, dc };
  }

  start(): this {
    this.#done = this.#loop();
    return this;
  }

  async #loop(): Promise<void> {
    let resolved: Resolved | undefined;
    let seq = 0;
    let i = 0;
    while (!this.#stop) {
      const expired = !resolved || Date.now() - resolved.at >= resolved.ttlSeconds * 1000;
      if (expired) {
        try {
          resolved = await resolveSrv(this.config);
          this.record.resolutions++;
        } catch {
          await sleep(this.o.intervalMs);
          continue;
        }
      }
      const target = resolved!.targets[i++ % resolved!.targets.length]!;
      const { client, dc } = this.#client(target);
      const key = `${LIVE_PREFIX}/${this.record.name}/${String(++seq).padStart(8, '0')}`;
      const value = `${this.record.name} ${seq}`;
      try {
        await client.set(key, value);
        this.record.acks.push({ key, value, at: Date.now(), dc });
      } catch (e) {
        this.record.refusals.push({
          at: Date.now(),
          dc,
          why: e instanceof EtcdReadOnlyError ? 'read-only' : e instanceof Error ? e.message : String(e),
        });
        if (this.o.reresolve === 'on-refusal') resolved = undefined;
      }
      await sleep(this.o.intervalMs);
    }
  }

  async stop(): Promise<WriterRecord> {
    this.#stop = true;
    await this.#done;
    for (const c of this.#clients.values()) c.close();
    return this.record;
  }
}

/**
 * A watcher holding a recursive watch on the live prefix, through a proxy of one datacenter
 * (reads pass a read-only proxy). On a broken stream it lists the prefix again (so nothing is
 * missed), then watches on from that index. It records every key it saw.
 */
export class LiveWatcher {
  readonly seen = new Set<string>();
  reconnects = 0;
  #abort = new AbortController();
  #done: Promise<void> | undefined;
  readonly #client: EtcdClient;

  constructor(config: GalleyConfig, datacenter: string) {
    const cluster = Object.values(config.etcd.clusters).find((c) => c.datacenter === datacenter)!.name;
    this.#client = etcdClientFor(config, cluster, { via: 'proxy', timeoutMs: 3000 });
  }

  start(): this {
    this.#done = this.#loop();
    return this;
  }

  #walk(n: EtcdNode | undefined): void {
    if (!n) return;
    if (!n.dir && n.key) this.seen.add(n.key);
    for (const c of n.nodes ?? []) this.#walk(c);
  }

  async #loop(): Promise<void> {
    while (!this.#abort.signal.aborted) {
      try {
        let index: number;
        try {
          const r = await this.#client.get(LIVE_PREFIX, { recursive: true });
          this.#walk(r.node);
          index = r.etcdIndex ?? 0;
        } catch (e) {
          if (!(e instanceof EtcdKeyNotFoundError)) throw e;
          index = e.etcdIndex ?? 0;
        }
        for await (const ev of this.#client.watchStream(LIVE_PREFIX, {
          recursive: true,
          waitIndex: index + 1,
          signal: this.#abort.signal,
        })) {
          if (ev.node.key && !ev.node.dir && ev.action !== 'delete' && ev.action !== 'expire')
            this.seen.add(ev.node.key);
        }
      } catch {
        if (this.#abort.signal.aborted) break;
        this.reconnects++;
        await sleep(100);
      }
    }
  }

  async stop(): Promise<Set<string>> {
    this.#abort.abort();
    await this.#done?.catch(() => undefined);
    this.#client.close();
    return this.seen;
  }
}

/** Every key and value under the live prefix of a cluster (through a local client port). */
export async function liveKeys(config: GalleyConfig, datacenter: string): Promise<Map<string, string>> {
  const cluster = Object.values(config.etcd.clusters).find((c) => c.datacenter === datacenter)!.name;
  const c = etcdClientFor(config, cluster, { via: 'local', timeoutMs: 5000 });
  const out = new Map<string, string>();
  const walk = (n: EtcdNode) => {
    if (!n.dir && n.key) out.set(n.key, n.value ?? '');
    for (const x of n.nodes ?? []) walk(x);
  };
  try {
    walk((await c.get(LIVE_PREFIX, { recursive: true, quorum: true })).node);
  } catch (e) {
    if ((e as { errorCode?: number }).errorCode !== 100) throw e;
  } finally {
    c.close();
  }
  return out;
}

/** The acknowledged writes missing (or different) in a datacenter. */
export async function lostWrites(
  config: GalleyConfig,
  datacenter: string,
  acks: readonly Ack[],
): Promise<Ack[]> {
  const held = await liveKeys(config, datacenter);
  return acks.filter((a) => held.get(a.key) !== a.value);
}

/** Removes the live prefix from the master (replication removes it from the replica). */
export async function clearLiveKeys(config: GalleyConfig, datacenter: string): Promise<void> {
  const cluster = Object.values(config.etcd.clusters).find((c) => c.datacenter === datacenter)!.name;
  const c = etcdClientFor(config, cluster, { via: 'local', timeoutMs: 5000 });
  try {
    await c.delete(LIVE_PREFIX, { recursive: true, dir: true });
  } catch (e) {
    if ((e as { errorCode?: number }).errorCode !== 100) throw e;
  } finally {
    c.close();
  }
}

/**
 * The read-only window one writer saw: from its last acknowledgement before its first
 * refusal to its first acknowledgement by the other datacenter (ms), or undefined.
 */
export function readOnlyWindowMs(w: WriterRecord): number | undefined {
  const firstRefusal = w.refusals[0];
  if (!firstRefusal) return undefined;
  const before = w.acks.filter((a) => a.at <= firstRefusal.at).pop();
  if (!before) return undefined;
  const after = w.acks.find((a) => a.at > firstRefusal.at && a.dc !== before.dc);
  return after ? after.at - before.at : undefined;
}
