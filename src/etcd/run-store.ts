import type { GalleyConfig } from '../config/schema.js';
import { ConfigError } from '../core/errors.js';
import {
  JournalDivergedError,
  type RunCopy,
  type SharedRunMeta,
  type SharedRuns,
} from '../core/shared-runs.js';
import type { EtcdClient, EtcdNode } from './client.js';
import { EtcdKeyNotFoundError, EtcdNodeExistsError } from './errors.js';
import { etcdClientFor } from './factory.js';
import { normalizeKey } from './url.js';

/** Journal line numbers as key names: sortable as text. */
const seqKey = (seq: number) => String(seq).padStart(8, '0');

/**
 * A shared copy of the run journals in one etcd cluster, under `prefix` (runs.prefix):
 * `meta/RUN` (the run's summary), `journal/RUN/00000001…` (its journal lines, in order) and
 * `alive/RUN` (the heartbeat: its owner, with a TTL, while it runs).
 */
export class EtcdRunCopy implements RunCopy {
  readonly #c: EtcdClient;
  readonly #prefix: string;

  constructor(
    readonly name: string,
    client: EtcdClient,
    prefix: string,
  ) {
    this.#c = client;
    this.#prefix = normalizeKey(prefix);
  }

  #key(...parts: string[]): string {
    return normalizeKey([this.#prefix, ...parts].join('/'));
  }

  async putEntries(runId: string, firstSeq: number, lines: readonly string[]): Promise<void> {
    // A few writes in flight at once. Each key is the line's number and is only created: a
    // replay finds its own text there; another text means the run went on from another host.
    const width = 8;
    const put = async (seq: number, line: string) => {
      const key = this.#key('journal', runId, seqKey(seq));
      try {
        await this.#c.create(key, line);
      } catch (e) {
        if (!(e instanceof EtcdNodeExistsError)) throw e;
        if ((await this.#c.get(key, { quorum: true })).node.value !== line)
          throw new JournalDivergedError(this.name, runId, seq);
      }
    };
    for (let i = 0; i < lines.length; i += width) {
      const batch = lines.slice(i, i + width).map((l, j) => put(firstSeq + i + j, l));
      const results = await Promise.allSettled(batch);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
  }

  async putMeta(meta: SharedRunMeta): Promise<void> {
    await this.#c.set(this.#key('meta', meta.runId), JSON.stringify(meta));
  }

  async setHeartbeat(runId: string, owner: string, ttlMs: number): Promise<void> {
    await this.#c.set(this.#key('alive', runId), owner, { ttlSeconds: Math.max(1, Math.ceil(ttlMs / 1000)) });
  }

  async clearHeartbeat(runId: string): Promise<void> {
    await this.#quiet(() => this.#c.delete(this.#key('alive', runId)));
  }

  async heartbeat(runId: string): Promise<string | undefined> {
    try {
      return (await this.#c.get(this.#key('alive', runId), { quorum: true })).node.value;
    } catch (e) {
      if (e instanceof EtcdKeyNotFoundError) return undefined;
      throw e;
    }
  }

  async list(): Promise<{ metas: SharedRunMeta[]; alive: Record<string, string> }> {
    const children = async (dir: string): Promise<EtcdNode[]> => {
      try {
        return (await this.#c.get(this.#key(dir), { quorum: true })).node.nodes ?? [];
      } catch (e) {
        if (e instanceof EtcdKeyNotFoundError) return [];
        throw e;
      }
    };
    const [metaNodes, aliveNodes] = await Promise.all([children('meta'), children('alive')]);
    const metas: SharedRunMeta[] = [];
    for (const n of metaNodes) {
      try {
        const m = JSON.parse(n.value ?? '') as SharedRunMeta;
        if (typeof m.runId === 'string') metas.push(m);
      } catch {
        // not a summary of ours: left out
      }
    }
    const alive: Record<string, string> = {};
    for (const n of aliveNodes) alive[n.key.split('/').pop()!] = n.value ?? '';
    return { metas, alive };
  }

  async entries(runId: string): Promise<string[] | undefined> {
    try {
      const res = await this.#c.get(this.#key('journal', runId), { sorted: true, quorum: true });
      return (res.node.nodes ?? [])
        .filter((n) => !n.dir)
        .sort((a, b) => (a.key < b.key ? -1 : 1))
        .map((n) => n.value ?? '');
    } catch (e) {
      if (e instanceof EtcdKeyNotFoundError) return undefined;
      throw e;
    }
  }

  async remove(runId: string): Promise<void> {
    await this.#quiet(() => this.#c.delete(this.#key('journal', runId), { recursive: true }));
    await this.#quiet(() => this.#c.delete(this.#key('meta', runId)));
    await this.#quiet(() => this.#c.delete(this.#key('alive', runId)));
  }

  close(): void {
    this.#c.close();
  }

  async #quiet(fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      if (!(e instanceof EtcdKeyNotFoundError)) throw e;
    }
  }
}

/**
 * The shared copies of a config's `runs` section: one per etcd cluster in service, through
 * the members' local client ports, as the locks (the proxies' read-only switch does not guard
 * them, so a switchover's read-only window does not stop the journal). runs.prefix must be
 * excluded from replication, or the mirror would copy one cluster's runs into the other.
 * Undefined when runs are not shared.
 */
export function sharedRunsFor(config: GalleyConfig): SharedRuns | undefined {
  const r = config.runs;
  if (!r?.shared) return undefined;
  const prefix = normalizeKey(r.prefix);
  const ignore = config.replication?.ignoreKeysRegex;
  if (config.replication && (!ignore || !new RegExp(ignore).test(`${prefix}/x`))) {
    throw new ConfigError(
      `runs.prefix ${prefix} is not excluded from replication (replication.ignore_keys_regex ${JSON.stringify(ignore ?? '')}): the shared journals of both clusters would be replicated`,
      [`add it to ignore_keys_regex and to etcdmirror's --src-ignore-keys-regex, or set runs.shared: false`],
    );
  }
  const clusters = Object.keys(config.etcd.clusters)
    .filter((c) => config.etcd.clusters[c]!.inService !== false)
    .sort();
  return {
    copies: clusters.map(
      (c) =>
        new EtcdRunCopy(c, etcdClientFor(config, c, { via: 'local', timeoutMs: r.requestTimeoutMs }), prefix),
    ),
    heartbeatTtlMs: r.heartbeatTtlMs,
    keepMs: r.keepMs,
  };
}
