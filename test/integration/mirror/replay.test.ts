import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type { EtcdClient } from '../../../src/etcd/index.js';
import {
  type EtcdPair,
  currentIndex,
  recordedIndex,
  startEtcdPair,
  startMirror,
  stopMirror,
  tree,
  waitFor,
  write,
} from './helpers.js';

jest.setTimeout(120_000);

let pair: EtcdPair;
let src: EtcdClient;
let dst: EtcdClient;

beforeAll(async () => {
  pair = await startEtcdPair(5);
  src = pair.src.client;
  dst = pair.dst.client;
});

afterAll(async () => {
  await pair.stop();
});

const args = (...extra: string[]): string[] => [
  '--src-prefix',
  '/r',
  '--dst-prefix',
  '/r',
  '--strip',
  '--listen',
  'off',
  ...extra,
  pair.src.url,
  pair.dst.url,
];

describe('the replay after a crash', () => {
  test('an event the killed mirror applied is recognised as soon as the later event that explains the key is queued, before the backlog is fetched', async () => {
    await write(src, 'PUT', '/r/k', { value: 'a0' });
    const first = startMirror(args('--reload'));
    await waitFor('the reload', () => first.log().includes('Starting replication at'), 60_000);
    expect(await stopMirror(first)).toBe(0);
    const recorded = await recordedIndex(dst, '/__replication/r');

    // What a mirror killed after applying e1 and e2, before recording an index past them, leaves:
    // the destination holds e2's value, the index is from before e1, and a backlog follows.
    const e1 = await write(src, 'PUT', '/r/k', { value: 'a', prevValue: 'a0' });
    for (let i = 0; i < 250; i++) await write(src, 'PUT', `/r/u${i}`, { value: 'x' });
    await write(src, 'PUT', '/r/k', { value: 'b', prevValue: 'a' });
    for (let i = 0; i < 600; i++) await write(src, 'PUT', `/r/w${i}`, { value: 'y' });
    await write(dst, 'PUT', '/r/k', { value: 'b' });
    expect(await recordedIndex(dst, '/__replication/r')).toBe(recorded);
    const target = await currentIndex(src);
    expect(target - recorded).toBeLessThan(1000); // all of it still in etcd's history

    const m = startMirror(args('--log-level', 'debug'));
    await waitFor(
      'the mirror to catch up',
      async () => {
        if (m.proc.exitCode !== null)
          throw new Error(`the mirror exited with ${m.proc.exitCode}:\n${m.log()}`);
        return (await recordedIndex(dst, '/__replication/r')) >= target;
      },
      60_000,
    );
    expect(await stopMirror(m)).toBe(0);
    const lines = m.log().split('\n');
    const recognised = lines.findIndex((l) =>
      l.includes(`index ${e1}: compareAndSwap /r/k -> /r/k (already applied)`),
    );
    const fetched = lines.findIndex((l) => / history \d+\.\.\d+ delivered in /.test(l));
    expect({ recognised: recognised >= 0, fetched: fetched >= 0 }).toEqual({
      recognised: true,
      fetched: true,
    });
    // e1 holds the watermark: waiting for the whole backlog would keep a restarted mirror from
    // recording any progress until it had fetched all of it
    expect(recognised).toBeLessThan(fetched);
    expect(m.log()).not.toContain('ERROR');
    expect(await tree(dst, '/r')).toEqual(await tree(src, '/r'));
  });
});
