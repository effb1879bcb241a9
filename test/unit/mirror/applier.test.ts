import { describe, expect, test } from '@jest/globals';
import { EtcdClient, type EtcdEvent, type EtcdNode } from '../../../src/etcd/index.js';
import { EtcdTransport, type EtcdHttpRequest, type EtcdHttpResponse } from '../../../src/etcd/http.js';
import { type ApplyContext, applyPlan } from '../../../src/mirror/applier.js';
import { InconsistencyError } from '../../../src/mirror/errors.js';
import { KeyMapper } from '../../../src/mirror/keys.js';
import { type WritePlan, planEvent } from '../../../src/mirror/write-plan.js';

/** A tiny in-memory etcd v2 keyspace behind the real client: files only (enough for the applier's conditions). */
class MemoryEtcd extends EtcdTransport {
  readonly files = new Map<string, string>();
  readonly requests: string[] = [];
  readonly client = new EtcdClient(
    { endpoints: [{ url: 'http://memory.invalid:2379' }], timeoutMs: 0 },
    this,
  );

  constructor() {
    super({ endpoints: [{ url: 'http://memory.invalid:2379' }], timeoutMs: 0 });
  }

  override async request(req: EtcdHttpRequest): Promise<EtcdHttpResponse> {
    const { method } = req;
    const key = decodeURIComponent(req.path.replace(/^\/v2\/keys/, ''));
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.form ?? req.query ?? {}))
      if (v !== undefined) params[k] = String(v);
    this.requests.push(`${method} ${key} ${new URLSearchParams(params).toString()}`);
    const has = this.files.has(key);
    const answer = (status: number, body: unknown): EtcdHttpResponse => ({
      status,
      headers: {},
      body: JSON.stringify(body),
      endpoint: 'memory',
      etcdIndex: 1,
    });
    const fail = (errorCode: number, message: string): EtcdHttpResponse =>
      answer(errorCode === 100 ? 404 : 412, { errorCode, message });
    if (method === 'GET')
      return has
        ? answer(200, { action: 'get', node: { key, value: this.files.get(key) } })
        : fail(100, 'Key not found');
    if (params.prevExist === 'false' && has) return fail(105, 'Key already exists');
    if (params.prevExist === 'true' && !has) return fail(100, 'Key not found');
    if (params.prevValue !== undefined && params.prevValue !== '') {
      if (!has) return fail(100, 'Key not found');
      if (this.files.get(key) !== params.prevValue) return fail(101, 'Compare failed');
    }
    if (method === 'PUT') this.files.set(key, params.value ?? '');
    else if (!has) return fail(100, 'Key not found');
    else this.files.delete(key);
    return answer(200, { action: method === 'PUT' ? 'set' : 'delete', node: { key } });
  }
}

/** An event as etcd sends it, abbreviated to the fields the mapping reads. */
type EventFixture = { action: string; node: Partial<EtcdNode>; prevNode?: Partial<EtcdNode> };

const mapper = new KeyMapper({ srcPrefix: '/', dstPrefix: '/', strip: false });

function plan(ev: EventFixture): WritePlan {
  const p = planEvent(ev as EtcdEvent, mapper);
  if (p.kind !== 'write') throw new Error('not a write');
  return p.plan;
}

function context(
  dst: MemoryEtcd,
  options: { replayUpTo?: number; pending?: WritePlan[]; moreQueued?: () => Promise<boolean> } = {},
): ApplyContext {
  return {
    dst: dst.client,
    replayUpTo: options.replayUpTo ?? 0,
    pendingOn: (key) => (options.pending ?? []).filter((p) => p.dstKey === key),
    moreQueued: options.moreQueued ?? (() => Promise.resolve(false)),
    lastApplied: () => 41,
  };
}

const cas = (index: number, from: string, to: string): WritePlan =>
  plan({
    action: 'compareAndSwap',
    node: { key: '/k', value: to, modifiedIndex: index },
    prevNode: { key: '/k', value: from },
  });

describe('applyPlan', () => {
  test('a write whose condition holds is applied', async () => {
    const dst = new MemoryEtcd();
    dst.files.set('/k', 'a');
    expect(await applyPlan(cas(42, 'a', 'b'), context(dst))).toBe('applied');
    expect(dst.files.get('/k')).toBe('b');
  });

  test('a refused condition stops replication naming the key, the expected and found values and the last applied index', async () => {
    const dst = new MemoryEtcd();
    dst.files.set('/k', 'tampered');
    const error = await applyPlan(cas(42, 'a', 'b'), context(dst)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InconsistencyError);
    expect((error as Error).message).toBe(
      'inconsistency at /k (source event compareAndSwap at index 42): expected value "a", found value "tampered"; replication stopped, last applied index 41',
    );
  });

  test('an event replayed after a restart is recognised when the key already holds its result', async () => {
    const dst = new MemoryEtcd();
    dst.files.set('/k', 'b');
    expect(await applyPlan(cas(42, 'a', 'b'), context(dst))).toBe('already-applied');
  });

  test('a replayed event is recognised when a later event on the key, applied before the crash, explains the value', async () => {
    const dst = new MemoryEtcd();
    dst.files.set('/k', 'c');
    const later = cas(43, 'b', 'c');
    expect(await applyPlan(cas(42, 'a', 'b'), context(dst, { replayUpTo: 43, pending: [later] }))).toBe(
      'already-applied',
    );
    expect(await applyPlan(later, context(dst, { replayUpTo: 43 }))).toBe('already-applied');
  });

  test('a replayed event is recognised as soon as the later event that explains the value is queued, not once the whole replay is', async () => {
    const dst = new MemoryEtcd();
    dst.files.set('/k', 'c');
    const pending: WritePlan[] = [];
    let calls = 0;
    const moreQueued = (): Promise<boolean> => {
      calls++;
      if (calls === 1) {
        // the feed delivers an unrelated event, then the one that explains the value
        pending.push(plan({ action: 'set', node: { key: '/other', value: 'x', modifiedIndex: 43 } }));
        return Promise.resolve(true);
      }
      if (calls === 2) {
        pending.push(cas(44, 'b', 'c'));
        return Promise.resolve(true);
      }
      return new Promise<boolean>(() => undefined); // the rest of the replay never comes
    };
    const outcome = applyPlan(cas(42, 'a', 'b'), context(dst, { replayUpTo: 900, pending, moreQueued }));
    const timedOut = new Promise((r) => setTimeout(() => r('still waiting'), 2000).unref());
    expect(await Promise.race([outcome, timedOut])).toBe('already-applied');
    expect(calls).toBe(2);
  });

  test('a replayed event that nothing explains is an inconsistency once every replayed event is queued', async () => {
    const dst = new MemoryEtcd();
    dst.files.set('/k', 'tampered');
    let calls = 0;
    const moreQueued = (): Promise<boolean> => Promise.resolve(++calls < 3);
    await expect(
      applyPlan(
        cas(42, 'a', 'b'),
        context(dst, { replayUpTo: 900, pending: [cas(43, 'b', 'c')], moreQueued }),
      ),
    ).rejects.toBeInstanceOf(InconsistencyError);
    expect(calls).toBe(3);
  });

  test('outside the replay range the same value is an inconsistency', async () => {
    const dst = new MemoryEtcd();
    dst.files.set('/k', 'c');
    const later = cas(43, 'b', 'c');
    await expect(
      applyPlan(cas(42, 'a', 'b'), context(dst, { replayUpTo: 0, pending: [later] })),
    ).rejects.toBeInstanceOf(InconsistencyError);
  });

  test('expire tolerates a key that is already gone', async () => {
    const dst = new MemoryEtcd();
    const p = plan({
      action: 'expire',
      node: { key: '/t', modifiedIndex: 50 },
      prevNode: { key: '/t', value: 'x' },
    });
    expect(await applyPlan(p, context(dst))).toBe('already-applied');
  });

  test('create over a key that exists with another value is an inconsistency', async () => {
    const dst = new MemoryEtcd();
    dst.files.set('/k', 'other');
    const p = plan({ action: 'create', node: { key: '/k', value: 'new', modifiedIndex: 60 } });
    await expect(applyPlan(p, context(dst))).rejects.toThrow('expected no key, found value "other"');
  });

  test('an empty previous value is compared by reading the key before an unconditional write', async () => {
    const dst = new MemoryEtcd();
    dst.files.set('/k', '');
    const p = plan({
      action: 'set',
      node: { key: '/k', value: 'v', modifiedIndex: 70 },
      prevNode: { key: '/k', value: '' },
    });
    expect(await applyPlan(p, context(dst))).toBe('applied');
    expect(dst.requests).toEqual(['GET /k ', 'PUT /k value=v']);
    dst.files.set('/k', 'changed');
    await expect(applyPlan({ ...p, index: 71 }, context(dst))).rejects.toThrow(
      'expected value "", found value "changed"',
    );
  });
});
