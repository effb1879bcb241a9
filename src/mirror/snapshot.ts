import { ClusterError } from './errors.js';
import { EtcdCode, type EtcdHttp, type EtcdNode, etcdError, keyPath } from './etcd-http.js';
import { isHidden, isUnder, type KeyMapper } from './keys.js';
import { requestRetrying } from './retry.js';
import type { Logger } from './log.js';
import { type NodeState, sameState, stateOf } from './write-plan.js';

/** A consistent view of a keyspace subtree: every key's state at one etcd index. */
export interface Snapshot {
  index: number;
  /** Key → state, files and directories (the subtree's root included when it exists). */
  nodes: Map<string, NodeState>;
}

function flatten(node: EtcdNode, into: Map<string, NodeState>): void {
  into.set(node.key ?? '/', stateOf(node));
  for (const child of node.nodes ?? []) flatten(child, into);
}

/** Reads a subtree at one index (a single recursive, quorum GET). */
export async function readSnapshot(client: EtcdHttp, prefix: string): Promise<Snapshot> {
  const r = await client.request('GET', keyPath(prefix), {
    recursive: 'true',
    sorted: 'true',
    quorum: 'true',
  });
  const err = etcdError(r);
  const nodes = new Map<string, NodeState>();
  if (err?.errorCode === EtcdCode.KEY_NOT_FOUND) return { index: r.etcdIndex ?? err.index ?? 0, nodes };
  if (err || r.status !== 200 || r.etcdIndex === undefined) {
    throw new ClusterError(
      `${client.display}: reading ${prefix} failed: ${err?.message ?? `HTTP ${r.status}`}`,
    );
  }
  flatten((r.body as { node: EtcdNode }).node, nodes);
  if (prefix === '/') nodes.delete('/');
  return { index: r.etcdIndex, nodes };
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

async function mustSucceed(
  client: EtcdHttp,
  method: string,
  key: string,
  params: Record<string, string>,
  allow: number[] = [],
): Promise<void> {
  const r = await requestRetrying(client, method, keyPath(key), params, false);
  if (r.status >= 200 && r.status < 300) return;
  const err = etcdError(r);
  if (err && allow.includes(err.errorCode)) return;
  throw new ClusterError(
    `${client.display}: ${method} ${key} failed: ${err ? `etcd error ${err.errorCode}: ${err.message}` : `HTTP ${r.status}`}`,
  );
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
  dst: EtcdHttp,
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
    mustSucceed(dst, 'PUT', k, { dir: 'true' }, [EtcdCode.NOT_FILE, EtcdCode.NODE_EXIST]),
  );
  await forEachLimited(files, concurrency, ([k, v]) => mustSucceed(dst, 'PUT', k, { value: v }));
  return dirs.length + files.length;
}

/** Writes the replication index key. */
export async function writeIndex(dst: EtcdHttp, indexKey: string, index: number): Promise<void> {
  await mustSucceed(dst, 'PUT', indexKey, { value: String(index) });
}

/**
 * `--reload`: ERASES everything replicated into the destination (the destination side of the
 * source prefix), copies every key of a consistent source snapshot, and records its index.
 * Returns the snapshot's index.
 */
export async function reloadDestination(
  src: EtcdHttp,
  dst: EtcdHttp,
  mapper: KeyMapper,
  log: Logger,
  concurrency = 32,
): Promise<number> {
  const base = mapper.dstBase;
  log.info(
    `RELOAD: ERASING EVERYTHING under ${base} on the destination ${dst.display}, then copying ${mapper.srcPrefix} from ${src.display}`,
  );
  if (base === '/') {
    const top = await readTopLevel(dst, '/');
    await forEachLimited(top, concurrency, (k) =>
      mustSucceed(dst, 'DELETE', k, { dir: 'true', recursive: 'true' }, [EtcdCode.KEY_NOT_FOUND]),
    );
    log.info(`RELOAD: erased ${top.length} top-level keys on the destination`);
  } else {
    await mustSucceed(dst, 'DELETE', base, { dir: 'true', recursive: 'true' }, [
      EtcdCode.KEY_NOT_FOUND,
      EtcdCode.NOT_DIR,
    ]);
    await mustSucceed(dst, 'DELETE', base, {}, [EtcdCode.KEY_NOT_FOUND, EtcdCode.NOT_FILE]);
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

async function readTopLevel(client: EtcdHttp, key: string): Promise<string[]> {
  const r = await client.request('GET', keyPath(key));
  const err = etcdError(r);
  if (err || r.status !== 200)
    throw new ClusterError(`${client.display}: listing ${key} failed: ${err?.message ?? `HTTP ${r.status}`}`);
  return ((r.body as { node: EtcdNode }).node.nodes ?? [])
    .map((n) => n.key ?? '')
    .filter((k) => k && !isHidden(k));
}

/**
 * `--resync-on-gap`: makes the destination equal to a consistent source snapshot by writing only
 * the differences (no erase): keys missing or different are written, keys the source does not
 * have are deleted (ignored keys are left alone). Returns the snapshot's index.
 */
export async function resyncDestination(
  src: EtcdHttp,
  dst: EtcdHttp,
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
    mustSucceed(dst, 'DELETE', k, { dir: 'true', recursive: 'true' }, [EtcdCode.KEY_NOT_FOUND]),
  );
  const written = await writeDifferences(dst, wanted, current, concurrency);
  log.info(
    `RESYNC: made the destination equal to source index ${snapshot.index}: ${removals.length} removed, ${written} written`,
  );
  return snapshot.index;
}
