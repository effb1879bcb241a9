import { describe, expect, test } from '@jest/globals';
import { OrderedScheduler } from '../../../src/mirror/scheduler.js';

interface Item {
  index: number;
  key: string;
}

/** A scheduler whose jobs finish only when the test says so. */
function harness(concurrency: number) {
  const started: number[] = [];
  const finishers = new Map<number, () => void>();
  const watermarks: number[] = [];
  const errors: unknown[] = [];
  const s = new OrderedScheduler<Item>(100, {
    concurrency,
    run: (item) =>
      new Promise<void>((resolve, reject) => {
        started.push(item.index);
        finishers.set(item.index, resolve);
        if (item.key === '/fail') reject(new Error('boom'));
      }),
    onError: (e) => errors.push(e),
    onWatermark: (w) => watermarks.push(w),
  });
  const push = (index: number, key: string): void => s.push(index, key, { index, key });
  const finish = async (index: number): Promise<void> => {
    finishers.get(index)!();
    await new Promise((r) => setImmediate(r));
  };
  return { s, started, finish, push, watermarks, errors };
}

describe('OrderedScheduler', () => {
  test('independent keys run concurrently up to the limit', () => {
    const h = harness(2);
    h.push(101, '/a');
    h.push(102, '/b');
    h.push(103, '/c');
    expect(h.started).toEqual([101, 102]);
  });

  test('events on the same key run one after the other, in order', async () => {
    const h = harness(8);
    h.push(101, '/a');
    h.push(102, '/a');
    expect(h.started).toEqual([101]);
    await h.finish(101);
    expect(h.started).toEqual([101, 102]);
  });

  test('a write below a key waits for an earlier write on that key (delete file /a, then set /a/b)', async () => {
    const h = harness(8);
    h.push(101, '/a');
    h.push(102, '/a/b');
    h.push(103, '/x');
    expect(h.started).toEqual([101, 103]);
    await h.finish(101);
    expect(h.started).toContain(102);
  });

  test('a directory delete is a barrier: it waits for its subtree, and later writes under it wait for it', async () => {
    const h = harness(8);
    h.push(101, '/d/x');
    h.push(102, '/d/y');
    h.push(103, '/d');
    h.push(104, '/d/z');
    h.push(105, '/e');
    expect(h.started).toEqual([101, 102, 105]);
    await h.finish(101);
    expect(h.started).not.toContain(103);
    await h.finish(102);
    expect(h.started).toContain(103);
    expect(h.started).not.toContain(104);
    await h.finish(103);
    expect(h.started).toContain(104);
  });

  test('the watermark stays below the oldest unfinished event, whatever finished after it', async () => {
    const h = harness(8);
    h.push(101, '/a');
    h.push(105, '/b');
    h.push(109, '/c');
    await h.finish(105);
    await h.finish(109);
    expect(h.s.watermark).toBe(100);
    await h.finish(101);
    expect(h.s.watermark).toBe(109);
    expect(h.watermarks).toEqual([109]);
  });

  test('events that need no write move the watermark in order', async () => {
    const h = harness(8);
    h.push(101, '/a');
    h.s.push(102, undefined, undefined);
    expect(h.s.watermark).toBe(100);
    await h.finish(101);
    expect(h.s.watermark).toBe(102);
    h.s.push(103, undefined, undefined);
    expect(h.s.watermark).toBe(103);
  });

  test('a quiet source moves the watermark up to the index it reported once all is applied', async () => {
    const h = harness(8);
    h.push(101, '/a');
    h.s.markReceivedUpTo(120);
    expect(h.s.watermark).toBe(100);
    await h.finish(101);
    expect(h.s.watermark).toBe(120);
  });

  test('events must arrive in increasing index order', () => {
    const h = harness(8);
    h.push(101, '/a');
    expect(() => h.push(101, '/b')).toThrow('not after');
  });

  test('a failure stops the scheduler: nothing more starts and the error is reported once', async () => {
    const h = harness(1);
    h.push(101, '/fail');
    h.push(102, '/b');
    await new Promise((r) => setImmediate(r));
    expect(h.errors).toHaveLength(1);
    expect(h.started).toEqual([101]);
    await h.s.whenIdle();
  });

  test('pendingOn lists the unfinished events on exactly one key, in order', () => {
    const h = harness(8);
    h.push(101, '/a');
    h.push(102, '/a/b');
    h.push(103, '/a');
    expect(h.s.pendingOn('/a').map((i) => i.index)).toEqual([101, 103]);
  });
});

describe('OrderedScheduler against a model store', () => {
  test('30,000 random operations applied concurrently leave the same tree as applied one by one', async () => {
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    type Op = { index: number; key: string; kind: 'set' | 'rmdir'; value: string };
    const ops: Op[] = [];
    for (let i = 1; i <= 30_000; i++) {
      const depth = 1 + rand(3);
      const key = Array.from({ length: depth }, () => `/k${rand(4)}`).join('');
      ops.push({ index: i, key, kind: rand(10) === 0 ? 'rmdir' : 'set', value: String(i) });
    }
    const apply = (store: Map<string, string>, op: Op): void => {
      if (op.kind === 'rmdir') {
        for (const k of [...store.keys()]) if (k === op.key || k.startsWith(`${op.key}/`)) store.delete(k);
      } else {
        for (const k of [...store.keys()])
          if (k.startsWith(`${op.key}/`) || op.key.startsWith(`${k}/`)) store.delete(k);
        store.set(op.key, op.value);
      }
    };
    const expected = new Map<string, string>();
    for (const op of ops) apply(expected, op);
    const actual = new Map<string, string>();
    const s = new OrderedScheduler<Op>(0, {
      concurrency: 16,
      run: async (op) => {
        for (let i = rand(3); i > 0; i--) await new Promise((r) => setImmediate(r));
        apply(actual, op);
      },
      onError: (e) => {
        throw e;
      },
    });
    for (const op of ops) s.push(op.index, op.key, op);
    await s.whenIdle();
    expect(s.watermark).toBe(30_000);
    expect([...actual].sort()).toEqual([...expected].sort());
  });
});
