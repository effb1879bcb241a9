import {
  type EtcdClient,
  EtcdCompareFailedError,
  EtcdDirNotEmptyError,
  EtcdError,
  EtcdKeyNotFoundError,
  EtcdNodeExistsError,
  EtcdNotADirError,
  EtcdNotAFileError,
  retryTransient,
} from '../etcd/index.js';
import { ClusterError, InconsistencyError } from './errors.js';
import { ancestorsOf } from './keys.js';
import { ABSENT, describeState, type NodeState, sameState, stateOf, type WritePlan } from './write-plan.js';

/** How a write went: written now, or found already in place (an event replayed after a restart). */
export type ApplyOutcome = 'applied' | 'already-applied';

/** The destination as the applier uses it (an EtcdClient; over an in-memory transport in unit tests). */
export type DstClient = EtcdClient;

/** What the applier needs to know beyond the plan. */
export interface ApplyContext {
  readonly dst: DstClient;
  /** Plans still pending on exactly this destination key (any order of index). */
  pendingOn(dstKey: string): WritePlan[];
  /** Events up to this index may have been applied before a crash (0: none). */
  readonly replayUpTo: number;
  /**
   * Resolves with true once more events have been queued (a later event on the key may be among
   * them), or with false once every event up to replayUpTo is queued (or the mirror is stopping):
   * nothing more can explain what a key holds.
   */
  moreQueued(): Promise<boolean>;
  /** The watermark, for messages. */
  lastApplied(): number;
}

/** etcd refusals that mean "the destination does not hold what the condition says". */
function isConflict(e: EtcdError): boolean {
  return (
    e instanceof EtcdKeyNotFoundError ||
    e instanceof EtcdCompareFailedError ||
    e instanceof EtcdNotAFileError ||
    e instanceof EtcdNotADirError ||
    e instanceof EtcdNodeExistsError ||
    e instanceof EtcdDirNotEmptyError
  );
}

/** Reads what a destination key holds (retrying while the destination is unavailable). */
export async function readState(dst: DstClient, key: string): Promise<NodeState> {
  try {
    return stateOf((await retryTransient(`reading ${key}`, () => dst.get(key))).node);
  } catch (e) {
    if (e instanceof EtcdKeyNotFoundError) return ABSENT;
    throw e;
  }
}

/** States the key may legitimately hold when an event is replayed after a restart. */
function replayStates(plan: WritePlan, ctx: ApplyContext): NodeState[] {
  if (plan.index > ctx.replayUpTo) return [];
  const out: NodeState[] = [];
  for (const p of ctx.pendingOn(plan.dstKey))
    if (p.index > plan.index && p.index <= ctx.replayUpTo) out.push(p.after);
  for (const a of ancestorsOf(plan.dstKey)) {
    for (const p of ctx.pendingOn(a)) {
      if (
        p.index > plan.index &&
        p.index <= ctx.replayUpTo &&
        (p.method === 'DELETE' || p.after.kind === 'file')
      )
        out.push(ABSENT);
    }
  }
  return out;
}

/** Accepts a destination state that shows the event already applied, or stops with an inconsistency. */
async function recognise(
  plan: WritePlan,
  found: NodeState,
  ctx: ApplyContext,
  detail: string,
): Promise<ApplyOutcome> {
  if (sameState(found, plan.after)) return 'already-applied';
  if (plan.index <= ctx.replayUpTo) {
    // A later event on this key may have been applied before the restart. If none queued so far
    // explains what the key holds, look again each time more events are queued, until every
    // replayed event is. Not only once the whole replay is queued: this event holds the
    // watermark, and a mirror restarted with a long backlog would otherwise record no progress
    // until it had fetched all of it (killed again meanwhile, it would start from the same
    // index, with more behind it).
    for (let isMoreToCome = true; ;) {
      if (replayStates(plan, ctx).some((s) => sameState(found, s))) return 'already-applied';
      if (!isMoreToCome) break;
      isMoreToCome = await ctx.moreQueued();
    }
  }
  const foundText = sameState(found, plan.before)
    ? `${describeState(found)} but the write was refused (${detail})`
    : describeState(found);
  throw new InconsistencyError(
    plan.dstKey,
    describeState(plan.before),
    foundText,
    ctx.lastApplied(),
    plan.index,
    plan.action,
  );
}

function unconditional(params: Record<string, string>): Record<string, string> {
  const { prevValue: _v, prevExist: _e, prevIndex: _i, ...rest } = params;
  return rest;
}

/**
 * Applies one write to the destination strictly. A refused condition is checked by reading the
 * key: if it already holds the event's result (or, for an event replayed after a restart, the
 * result of a later pending event on it), the event is recognised as applied; otherwise
 * replication stops with an InconsistencyError naming the key, the expected and the found value.
 */
export async function applyPlan(plan: WritePlan, ctx: ApplyContext): Promise<ApplyOutcome> {
  let params = plan.params;
  if (plan.checkFirst) {
    const found = await readState(ctx.dst, plan.dstKey);
    if (!sameState(found, plan.before)) return recognise(plan, found, ctx, 'checked before writing');
    params = unconditional(params);
  }
  const write = { method: plan.method, key: plan.dstKey, params };
  try {
    await retryTransient(`${plan.method} ${plan.dstKey}`, () => ctx.dst.write(write));
    return 'applied';
  } catch (e) {
    if (!(e instanceof EtcdError)) throw e;
    if (isConflict(e)) {
      if (plan.tolerateMissing && e instanceof EtcdKeyNotFoundError) return 'already-applied';
      const found = await readState(ctx.dst, plan.dstKey);
      return recognise(plan, found, ctx, `etcd error ${e.errorCode}${e.etcdCause ? ` ${e.etcdCause}` : ''}`);
    }
    throw new ClusterError(
      `${e.endpoint}: ${plan.method} ${plan.dstKey} (source index ${plan.index}) failed: ${e.message}`,
      e,
    );
  }
}
