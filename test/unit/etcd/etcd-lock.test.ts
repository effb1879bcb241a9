import { describe, expect, test } from '@jest/globals';
import { holderNodes, lockDir, lockSegment, parseHolder } from '../../../src/etcd/lock.js';

describe('etcd lock keys', () => {
  test('a lock name is one key segment, whatever it contains', () => {
    expect(lockSegment('dns.switch:wmnet')).toBe('dns.switch:wmnet');
    expect(lockSegment('a/b%c')).toBe('a%2Fb%25c');
    expect(lockDir('/galley/locks/', 'etcd/reimage')).toBe('/galley/locks/etcd%2Freimage');
  });

  test('holders are ordered by creation index and sub-directories are ignored', () => {
    const nodes = holderNodes({
      key: '/l/x',
      dir: true,
      createdIndex: 1,
      modifiedIndex: 1,
      nodes: [
        { key: '/l/x/00000000000000000012', value: '{}', createdIndex: 12, modifiedIndex: 30 },
        { key: '/l/x/sub', dir: true, createdIndex: 2, modifiedIndex: 2 },
        { key: '/l/x/00000000000000000009', value: '{}', createdIndex: 9, modifiedIndex: 40 },
      ],
    });
    expect(nodes.map((n) => n.createdIndex)).toEqual([9, 12]);
  });

  test('a holder value is read back; a foreign value still names its key', () => {
    const node = { key: '/l/x/1', createdIndex: 1, modifiedIndex: 1 };
    expect(
      parseHolder({
        ...node,
        value: '{"owner":"a@h [1]","runId":"r","since":"2026-01-01T00:00:00.000Z","concurrency":2}',
      }),
    ).toEqual({
      owner: 'a@h [1]',
      runId: 'r',
      since: '2026-01-01T00:00:00.000Z',
      concurrency: 2,
    });
    expect(parseHolder({ ...node, value: 'locked by hand' }).owner).toBe('unknown holder /l/x/1');
  });
});
