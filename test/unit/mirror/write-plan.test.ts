import { describe, expect, test } from '@jest/globals';
import type { EtcdEvent, EtcdNode } from '../../../src/etcd/index.js';
import { MirrorError } from '../../../src/mirror/errors.js';
import { KeyMapper } from '../../../src/mirror/keys.js';
import { type WritePlan, planEvent } from '../../../src/mirror/write-plan.js';

const mapper = new KeyMapper({
  srcPrefix: '/src',
  dstPrefix: '/dst',
  strip: true,
  ignoreRegex: '^/src/locks(/|$)',
});

/** An event as etcd sends it, abbreviated to the fields the mapping reads. */
type EventFixture = { action: string; node: Partial<EtcdNode>; prevNode?: Partial<EtcdNode> };
const event = (e: EventFixture): EtcdEvent => e as EtcdEvent;

function plan(ev: EventFixture): WritePlan {
  const p = planEvent(event(ev), mapper);
  if (p.kind !== 'write') throw new Error(`expected a write, got ${p.reason}`);
  return p.plan;
}

describe('planEvent maps each source action to a strict destination write', () => {
  test('create is a PUT with prevExist=false under the mangled key', () => {
    const p = plan({ action: 'create', node: { key: '/src/a', value: 'v', modifiedIndex: 7 } });
    expect(p).toMatchObject({
      index: 7,
      method: 'PUT',
      dstKey: '/dst/a',
      params: { value: 'v', prevExist: 'false' },
      after: { kind: 'file', value: 'v' },
    });
  });

  test('a key created by POST is written with a PUT to the same name', () => {
    const p = plan({
      action: 'create',
      node: { key: '/src/q/00000000000000000042', value: 'job', modifiedIndex: 42 },
    });
    expect(p.method).toBe('PUT');
    expect(p.dstKey).toBe('/dst/q/00000000000000000042');
  });

  test('compareAndSwap carries the previous value as prevValue', () => {
    const p = plan({
      action: 'compareAndSwap',
      node: { key: '/src/a', value: 'new', modifiedIndex: 9 },
      prevNode: { key: '/src/a', value: 'old' },
    });
    expect(p.params).toEqual({ value: 'new', prevValue: 'old' });
    expect(p.before).toEqual({ kind: 'file', value: 'old' });
  });

  test('set over nothing requires the key to be absent, set over a value requires that value', () => {
    expect(plan({ action: 'set', node: { key: '/src/a', value: 'x', modifiedIndex: 3 } }).params).toEqual({
      value: 'x',
      prevExist: 'false',
    });
    expect(
      plan({
        action: 'set',
        node: { key: '/src/a', value: 'y', modifiedIndex: 4 },
        prevNode: { key: '/src/a', value: 'x' },
      }).params,
    ).toEqual({
      value: 'y',
      prevValue: 'x',
    });
  });

  test('an empty previous value cannot be sent as prevValue, so the key is read and compared first', () => {
    const p = plan({
      action: 'update',
      node: { key: '/src/a', value: 'y', modifiedIndex: 4 },
      prevNode: { key: '/src/a', value: '' },
    });
    expect(p.checkFirst).toBe(true);
  });

  test('a directory created by set is a PUT with dir=true', () => {
    expect(plan({ action: 'set', node: { key: '/src/d', dir: true, modifiedIndex: 5 } }).params).toEqual({
      dir: 'true',
      prevExist: 'false',
    });
  });

  test('delete and compareAndDelete of a file carry the previous value', () => {
    for (const action of ['delete', 'compareAndDelete']) {
      const p = plan({
        action,
        node: { key: '/src/a', modifiedIndex: 11 },
        prevNode: { key: '/src/a', value: 'x' },
      });
      expect(p).toMatchObject({
        method: 'DELETE',
        params: { prevValue: 'x' },
        after: { kind: 'absent' },
        tolerateMissing: false,
      });
    }
  });

  test('deleting a directory is recursive', () => {
    const p = plan({
      action: 'delete',
      node: { key: '/src/d', dir: true, modifiedIndex: 12 },
      prevNode: { key: '/src/d', dir: true },
    });
    expect(p.params).toEqual({ dir: 'true', recursive: 'true' });
  });

  test('expire is a delete that tolerates a key already gone, and TTLs are never copied', () => {
    const p = plan({
      action: 'expire',
      node: { key: '/src/t', modifiedIndex: 13 },
      prevNode: { key: '/src/t', value: 'x', ttl: 5 },
    });
    expect(p.tolerateMissing).toBe(true);
    const set = plan({ action: 'set', node: { key: '/src/t', value: 'x', ttl: 5, modifiedIndex: 14 } });
    expect(set.params).not.toHaveProperty('ttl');
  });

  test('ignored and hidden keys are skipped with their reason and index', () => {
    expect(
      planEvent(
        event({ action: 'set', node: { key: '/src/locks/x', value: '1', modifiedIndex: 20 } }),
        mapper,
      ),
    ).toEqual({
      kind: 'skip',
      reason: 'ignored',
      index: 20,
      srcKey: '/src/locks/x',
      action: 'set',
    });
    expect(
      planEvent(
        event({ action: 'set', node: { key: '/src/__replication/x', value: '1', modifiedIndex: 21 } }),
        mapper,
      ),
    ).toMatchObject({ reason: 'hidden' });
  });

  test('deleting an ancestor of the source prefix deletes everything replicated', () => {
    const p = plan({ action: 'delete', node: { key: '/', dir: true, modifiedIndex: 30 } });
    expect(p).toMatchObject({ dstKey: '/dst', method: 'DELETE', tolerateMissing: true });
  });

  test('an unknown action stops replication instead of being skipped', () => {
    expect(() =>
      planEvent(event({ action: 'frobnicate', node: { key: '/src/a', modifiedIndex: 1 } }), mapper),
    ).toThrow(MirrorError);
  });
});
