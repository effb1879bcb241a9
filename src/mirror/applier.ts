import { ClusterError, InconsistencyError } from './errors.js';
import { EtcdCode, etcdError, keyPath } from './etcd-http.js';
import { type EtcdRequester, requestRetrying } from './retry.js';
import { ancestorsOf } from './keys.js';
import { ABSENT, describeState, type NodeState, sameState, stateOf, type WritePlan } from './write-plan.js';
import type { EtcdNode } from './etcd-http.js';

/** How a write went: written now, or found already in place (an event replayed after a restart). */
export type ApplyOutcome = 'applied' | 'already-applied';

/** The destination as the applier uses it (EtcdHttp; an in-memory store in unit tests). */
export type DstClient = EtcdRequester;

/** What the applier needs to know beyond the plan. */
export interface ApplyContext {
  readonly dst: DstClient;
  /** Plans still pending on exactly this destination key (any order of index). */
  pendingOn(dstKey: string): WritePlan[];
  /** Events up to this index may have been applied before a crash (0: none). */
  readonly replayUpTo: number;
  /** Resolves once every event up to replayUpTo has been queued (or the mirror is stopping). */
  replayQueued(): Promise<void>;
  /** The watermark, for messages. */
  lastApplied(): number;
}

const CONFLICT_CODES: ReadonlySet<number> = new Set([
  EtcdCode.KEY_NOT_FOUND,
  EtcdCode.TEST_FAILED,
  EtcdCode.NOT_FILE,
  EtcdCode.NOT_DIR,
  EtcdCode.NODE_EXIST,
  EtcdCode.DIR_NOT_EMPTY,
]);

/** Reads what a destination key holds. */
export async function readState(dst: DstClient, key: string): Promise<NodeState> {
  const r = await requestRetrying(dst, 'GET', keyPath(key));
  const err = etcdError(r);
  if (err?.errorCode === EtcdCode.KEY_NOT_FOUND) return ABSENT;
  if (err || r.status >= 300)
    throw new ClusterError(`${dst.display}: reading ${key} failed: ${err?.message ?? `HTTP ${r.status}`}`);
  return stateOf((r.body as { node: EtcdNode }).node);
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
    // a later event on this key may have been applied before the restart; if none queued so far
    // explains what the key holds, wait until every such event is queued and look again
    if (replayStates(plan, ctx).some((s) => sameState(found, s))) return 'already-applied';
    await ctx.replayQueued();
    if (replayStates(plan, ctx).some((s) => sameState(found, s))) return 'already-applied';
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
  const reply = await requestRetrying(ctx.dst, plan.method, keyPath(plan.dstKey), params, false);
  if (reply.status >= 200 && reply.status < 300) return 'applied';
  const err = etcdError(reply);
  if (err && CONFLICT_CODES.has(err.errorCode)) {
    if (plan.tolerateMissing && err.errorCode === EtcdCode.KEY_NOT_FOUND) return 'already-applied';
    const found = await readState(ctx.dst, plan.dstKey);
    return recognise(
      plan,
      found,
      ctx,
      `etcd error ${err.errorCode}: ${err.message}${err.cause ? ` ${err.cause}` : ''}`,
    );
  }
  throw new ClusterError(
    `${ctx.dst.display}: ${plan.method} ${plan.dstKey} (source index ${plan.index}) failed: ` +
      (err
        ? `etcd error ${err.errorCode}: ${err.message}`
        : `HTTP ${reply.status} ${String(reply.body).slice(0, 200)}`),
  );
}
