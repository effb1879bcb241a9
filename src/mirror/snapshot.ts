import type { Logger } from '../core/log.js';
import {
  type EtcdClient,
  EtcdError,
  EtcdKeyNotFoundError,
  type EtcdNode,
  EtcdNodeExistsError,
  EtcdNotADirError,
  EtcdNotAFileError,
  retryTransient,
} from '../etcd/index.js';
import { isHidden, isUnder, type KeyMapper } from './keys.js';
import { type NodeState, sameState, stateOf } from './write-plan.js';

/** A consistent view of a keyspace subtree: every key's state at one etcd index. */
export interface Snapshot {
  index: number;
  /** Key → state, files and directories (the subtree's root included when it exists). */
  nodes: Map<string, NodeState>;
}

function flatten(node: EtcdNode, into: Map<string, NodeState>): void {
  // etcd leaves the key out of the root node
  into.set((node.key as string | undefined) ?? '/', stateOf(node));
  for (const child of node.nodes ?? []) flatten(child, into);
}

/** Reads a subtree at one index (a single recursive, quorum GET). */
export async function readSnapshot(client: EtcdClient, prefix: string): Promise<Snapshot> {
  const nodes = new Map<string, NodeState>();
  let r;
  try {
    r = await retryTransient(`reading ${prefix}`, () =>
      client.get(prefix, { recursive: true, sorted: true, quorum: true }),
    );
  } catch (e) {
    if (e instanceof EtcdKeyNotFoundError) return { index: e.etcdIndex ?? 0, nodes };
    throw e;
  }
  flatten(r.node, nodes);
  if (prefix === '/') nodes.delete('/');
  return { index: r.etcdIndex ?? 0, nodes };
}

/** Runs `fn` over items with at most `limit` in flight. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

type EtcdErrorClass = abstract new (...args: never[]) => EtcdError;

/** One write, retried while the cluster is unavailable; the refusals in `allow` count as done. */
async function mustSucceed(
  client: EtcdClient,
  method: 'PUT' | 'DELETE',
  key: string,
  params: Record<string, string>,
  allow: EtcdErrorClass[] = [],
): Promise<void> {
  try {
    await retryTransient(`${method} ${key}`, () => client.write({ method, key, params }));
  } catch (e) {
    if (allow.some((c) => e instanceof c)) return;
    throw e;
  }
}

/** The source snapshot mapped to destination keys, without the keys that are not replicated. */
function wantedState(snapshot: Snapshot, mapper: KeyMapper): Map<string, NodeState> {
  const wanted = new Map<string, NodeState>();
  for (const [k, s] of snapshot.nodes) {
    if (mapper.skipReason(k)) continue;
    wanted.set(mapper.toDst(k), s);
  }
  return wanted;
}

/** Writes the wanted states that differ from `current`: directories without children, then files. */
async function writeDifferences(
  dst: EtcdClient,
  wanted: Map<string, NodeState>,
  current: Map<string, NodeState>,
  concurrency: number,
): Promise<number> {
  const hasChild = new Set<string>();
  for (const k of wanted.keys()) hasChild.add(k.slice(0, k.lastIndexOf('/')) || '/');
  const dirs: string[] = [];
  const files: [string, string][] = [];
  for (const [k, s] of wanted) {
    const have = current.get(k);
    if (have && sameState(have, s)) continue;
    if (s.kind === 'dir') {
      if (!hasChild.has(k)) dirs.push(k);
    } else if (s.kind === 'file') files.push([k, s.value]);
  }
  await forEachLimited(dirs, concurrency, (k) =>
    mustSucceed(dst, 'PUT', k, { dir: 'true' }, [EtcdNotAFileError, EtcdNodeExistsError]),
  );
  await forEachLimited(files, concurrency, ([k, v]) => mustSucceed(dst, 'PUT', k, { value: v }));
  return dirs.length + files.length;
}

/** Writes the replication index key. */
export async function writeIndex(dst: EtcdClient, indexKey: string, index: number): Promise<void> {
  await mustSucceed(dst, 'PUT', indexKey, { value: String(index) });
}

/**
 * `--reload`: ERASES everything replicated into the destination (the destination side of the
 * source prefix), copies every key of a consistent source snapshot, and records its index.
 * Returns the snapshot's index.
 */
export async function reloadDestination(
  src: EtcdClient,
  dst: EtcdClient,
  mapper: KeyMapper,
  log: Logger,
  concurrency = 32,
): Promise<number> {
  const base = mapper.dstBase;
  log.info(
    `RELOAD: ERASING EVERYTHING under ${base} on the destination ${dst.endpoints.join(',')}, then copying ${mapper.srcPrefix} from ${src.endpoints.join(',')}`,
  );
  if (base === '/') {
    const top = await readTopLevel(dst, '/');
    await forEachLimited(top, concurrency, (k) =>
      mustSucceed(dst, 'DELETE', k, { dir: 'true', recursive: 'true' }, [EtcdKeyNotFoundError]),
    );
    log.info(`RELOAD: erased ${top.length} top-level keys on the destination`);
  } else {
    await mustSucceed(dst, 'DELETE', base, { dir: 'true', recursive: 'true' }, [
      EtcdKeyNotFoundError,
      EtcdNotADirError,
    ]);
    await mustSucceed(dst, 'DELETE', base, {}, [EtcdKeyNotFoundError, EtcdNotAFileError]);
    log.info(`RELOAD: erased ${base} on the destination`);
  }
  const snapshot = await readSnapshot(src, mapper.srcPrefix);
  const written = await writeDifferences(dst, wantedState(snapshot, mapper), new Map(), concurrency);
  await writeIndex(dst, mapper.indexKey, snapshot.index);
  log.info(
    `RELOAD: copied ${written} keys at source index ${snapshot.index}; recorded it in ${mapper.indexKey}`,
  );
  return snapshot.index;
}

async function readTopLevel(client: EtcdClient, key: string): Promise<string[]> {
  const r = await retryTransient(`listing ${key}`, () => client.get(key));
  return (r.node.nodes ?? []).map((n) => n.key).filter((k) => k && !isHidden(k));
}

/**
 * `--resync-on-gap`: makes the destination equal to a consistent source snapshot by writing only
 * the differences (no erase): keys missing or different are written, keys the source does not
 * have are deleted (ignored keys are left alone). Returns the snapshot's index.
 */
export async function resyncDestination(
  src: EtcdClient,
  dst: EtcdClient,
  mapper: KeyMapper,
  log: Logger,
  concurrency = 32,
): Promise<number> {
  const snapshot = await readSnapshot(src, mapper.srcPrefix);
  const wanted = wantedState(snapshot, mapper);
  const current = (await readSnapshot(dst, mapper.dstBase)).nodes;
  // delete what the source does not have (or has with another kind), topmost keys only
  const removals: string[] = [];
  const sorted = [...current.keys()].sort();
  let removedUnder: string | undefined;
  for (const k of sorted) {
    if (removedUnder !== undefined && isUnder(k, removedUnder)) continue;
    if (isHidden(k) || mapper.ignore?.test(mapper.toSrc(k))) continue;
    const want = wanted.get(k);
    const have = current.get(k)!;
    if (want === undefined || want.kind !== have.kind) {
      removals.push(k);
      removedUnder = k;
      for (const sub of sorted) if (isUnder(sub, k)) current.delete(sub);
    }
  }
  await forEachLimited(removals, concurrency, (k) =>
    mustSucceed(dst, 'DELETE', k, { dir: 'true', recursive: 'true' }, [EtcdKeyNotFoundError]),
  );
  const written = await writeDifferences(dst, wanted, current, concurrency);
  log.info(
    `RESYNC: made the destination equal to source index ${snapshot.index}: ${removals.length} removed, ${written} written`,
  );
  return snapshot.index;
}
