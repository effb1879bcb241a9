import { type EtcdEvent, type EtcdNode, eventIndex } from '../etcd/index.js';
import { MirrorError, MirrorExit } from './errors.js';
import { isUnder, type KeyMapper, type SkipReason } from './keys.js';

/** What a key holds: nothing, a file with a value, or a directory. */
export type NodeState = { kind: 'absent' } | { kind: 'file'; value: string } | { kind: 'dir' };

export const ABSENT: NodeState = { kind: 'absent' };

/** The state a node describes (undefined: absent). */
export function stateOf(node: EtcdNode | undefined): NodeState {
  if (!node) return ABSENT;
  if (node.dir) return { kind: 'dir' };
  return { kind: 'file', value: node.value ?? '' };
}

/** Two states are the same (directories compare by kind only). */
export function sameState(a: NodeState, b: NodeState): boolean {
  if (a.kind !== b.kind) return false;
  return a.kind !== 'file' || a.value === (b as { value: string }).value;
}

/** A state for messages. */
export function describeState(s: NodeState): string {
  if (s.kind === 'absent') return 'no key';
  if (s.kind === 'dir') return 'a directory';
  return `value ${JSON.stringify(s.value.length > 200 ? `${s.value.slice(0, 200)}…` : s.value)}`;
}

/** One destination write that replays one source event strictly. */
export interface WritePlan {
  /** The source event's index. */
  index: number;
  action: string;
  srcKey: string;
  dstKey: string;
  method: 'PUT' | 'DELETE';
  /** Query or form parameters, conditions included. */
  params: Record<string, string>;
  /** What the destination must hold before the write (what the source held). */
  before: NodeState;
  /** What the destination holds once the write is applied. */
  after: NodeState;
  /** `expire`: a key already gone is fine. */
  tolerateMissing: boolean;
  /**
   * The condition cannot be sent with the write (etcd ignores an empty prevValue): read the key,
   * compare with `before`, then write unconditionally.
   */
  checkFirst: boolean;
}

/** The outcome of mapping one event: a write, or the reason it is not replicated. */
export type EventPlan =
  | { kind: 'write'; plan: WritePlan }
  | { kind: 'skip'; reason: SkipReason; index: number; srcKey: string; action: string };

export { eventIndex };

function writeParams(node: EtcdNode): Record<string, string> {
  return node.dir ? { dir: 'true' } : { value: node.value ?? '' };
}

/** The condition that makes a PUT strict given what the key held before. */
function putCondition(before: NodeState): { params: Record<string, string>; checkFirst: boolean } {
  if (before.kind === 'absent') return { params: { prevExist: 'false' }, checkFirst: false };
  if (before.kind === 'dir') return { params: { prevExist: 'true' }, checkFirst: false };
  if (before.value === '') return { params: { prevExist: 'true' }, checkFirst: true };
  return { params: { prevValue: before.value }, checkFirst: false };
}

/** The condition that makes a DELETE strict given what the key held before. */
function deleteCondition(
  before: NodeState,
  isDir: boolean,
): { params: Record<string, string>; checkFirst: boolean } {
  if (isDir || before.kind === 'dir')
    return { params: { dir: 'true', recursive: 'true' }, checkFirst: false };
  if (before.kind === 'file' && before.value !== '')
    return { params: { prevValue: before.value }, checkFirst: false };
  return { params: {}, checkFirst: before.kind === 'file' };
}

/**
 * Maps a source event to the destination write that replays it strictly:
 * `create` with prevExist=false; `set`, `update` and `compareAndSwap` conditioned on the previous
 * value (prevExist=false when there was none); `delete`, `compareAndDelete` and `expire` conditioned
 * on the previous value, directories recursively; `expire` tolerating a missing key. TTLs are never
 * copied: the source's `expire` events delete the key. Keys made by POST arrive as `create` of their
 * final name and are written with a PUT to the same name. An unknown action is an error, never
 * skipped.
 */
export function planEvent(ev: EtcdEvent, mapper: KeyMapper): EventPlan {
  // etcd leaves the key out of the root node
  const srcKey = (ev.node.key as string | undefined) ?? '/';
  const index = eventIndex(ev);
  const reason = mapper.skipReason(srcKey);
  const isRemoval = ev.action === 'delete' || ev.action === 'expire' || ev.action === 'compareAndDelete';
  if (reason === 'outside-prefix' && isRemoval && isUnder(mapper.srcPrefix, srcKey)) {
    // an ancestor of the source prefix was removed: everything replicated goes with it
    return {
      kind: 'write',
      plan: {
        index,
        action: ev.action,
        srcKey,
        dstKey: mapper.dstBase,
        method: 'DELETE',
        params: { dir: 'true', recursive: 'true' },
        before: { kind: 'dir' },
        after: ABSENT,
        tolerateMissing: true,
        checkFirst: false,
      },
    };
  }
  if (reason) return { kind: 'skip', reason, index, srcKey, action: ev.action };
  const dstKey = mapper.toDst(srcKey);
  const before = stateOf(ev.prevNode);
  const base = { index, action: ev.action, srcKey, dstKey, before, tolerateMissing: false };
  switch (ev.action) {
    case 'create':
      return {
        kind: 'write',
        plan: {
          ...base,
          method: 'PUT',
          params: { ...writeParams(ev.node), prevExist: 'false' },
          after: stateOf(ev.node),
          checkFirst: false,
        },
      };
    case 'set':
    case 'update':
    case 'compareAndSwap': {
      const c = putCondition(before);
      return {
        kind: 'write',
        plan: {
          ...base,
          method: 'PUT',
          params: { ...writeParams(ev.node), ...c.params },
          after: stateOf(ev.node),
          checkFirst: c.checkFirst,
        },
      };
    }
    case 'delete':
    case 'compareAndDelete':
    case 'expire': {
      const c = deleteCondition(before, ev.node.dir === true);
      return {
        kind: 'write',
        plan: {
          ...base,
          method: 'DELETE',
          params: c.params,
          after: ABSENT,
          checkFirst: c.checkFirst,
          tolerateMissing: ev.action === 'expire',
        },
      };
    }
    default:
      throw new MirrorError(
        `source event ${JSON.stringify(ev.action)} on ${srcKey} at index ${index} is not an action etcdmirror knows how to replicate`,
        MirrorExit.UNEXPECTED,
        ['report it; a --reload makes the destination equal to the source meanwhile'],
      );
  }
}
