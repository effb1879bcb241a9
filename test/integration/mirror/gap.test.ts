import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type { EtcdClient } from '../../../src/etcd/index.js';
import { forEachLimited } from '../../../src/mirror/snapshot.js';
import {
  type EtcdPair,
  currentIndex,
  recordedIndex,
  runMirrorToEnd,
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
  pair = await startEtcdPair(2);
  src = pair.src.client;
  dst = pair.dst.client;
  await forEachLimited(
    Array.from({ length: 200 }, (_, i) => i),
    16,
    async (i) => void (await write(src, 'PUT', `/stable/k${i}`, { value: `v${i}` })),
  );
});

afterAll(async () => {
  await pair.stop();
});

/** `count` writes with large values, 16 at a time: more than the 1000-event history and the socket buffers. */
async function burst(count: number, tag: string, valueBytes = 2000): Promise<void> {
  const big = 'x'.repeat(valueBytes);
  await forEachLimited(
    Array.from({ length: count }, (_, i) => i),
    16,
    async (i) => {
      if (i % 50 === 49) await write(src, 'DELETE', `/burst/k${(i * 7) % 300}`).catch(() => 0);
      else await write(src, 'PUT', `/burst/k${i % 300}`, { value: `${tag}-${i}-${big}` });
    },
  );
}

const URLS = (): string[] => [pair.src.url, pair.dst.url];

describe('falling out of the source history (etcd errorCode 401)', () => {
  test('without --resync-on-gap the mirror says so plainly and exits with code 5', async () => {
    const first = startMirror(['--reload', '--listen', 'off', ...URLS()]);
    await waitFor('the reload', async () => (await recordedIndex(dst)) > 0);
    expect(await stopMirror(first)).toBe(0);
    await burst(1100, 'offline');
    const r = await runMirrorToEnd(['--listen', 'off', ...URLS()]);
    expect(r.code).toBe(5);
    expect(r.log).toContain("fell out of the source's event history");
    expect(r.log).toContain('--resync-on-gap');
  });

  test('a watch stream that etcd dropped while the mirror was frozen is noticed and replaced without losing an event', async () => {
    const m = startMirror(['--reload', '--listen', 'off', ...URLS()]);
    await waitFor('the reload', async () => m.log().includes('Starting replication at'));
    m.proc.kill('SIGSTOP');
    // 800 events of 16 kB: more than the socket buffers and etcd's 100-event watcher queue, inside the 1000-event history
    await burst(800, 'dropped', 16_000);
    m.proc.kill('SIGCONT');
    const target = await currentIndex(src);
    await waitFor('the mirror to catch up', async () => (await recordedIndex(dst)) >= target, 30_000);
    await write(src, 'PUT', '/after/drop', { value: 'live' });
    const after = await currentIndex(src);
    await waitFor(
      'live replication on the new stream',
      async () => (await recordedIndex(dst)) >= after,
      15_000,
    );
    expect(await tree(dst, '/')).toEqual(await tree(src, '/'));
    expect(m.log()).not.toContain('ERROR the mirror fell out');
    expect(m.log()).toContain('the watch stream stalled');
    expect(await stopMirror(m)).toBe(0);
  });

  test('a burst that outruns a frozen mirror makes it exit with code 5 when it wakes up', async () => {
    const m = startMirror(['--reload', '--listen', 'off', ...URLS()]);
    await waitFor('the reload', async () => m.log().includes('Starting replication at'));
    m.proc.kill('SIGSTOP');
    await burst(5000, 'frozen');
    m.proc.kill('SIGCONT');
    const timer = setTimeout(() => m.proc.kill('SIGKILL'), 30_000);
    expect(await m.exited).toBe(5);
    clearTimeout(timer);
  });

  test('with --resync-on-gap it repairs only the differences from a snapshot and keeps replicating', async () => {
    const m = startMirror(['--reload', '--resync-on-gap', '--listen', 'off', ...URLS()]);
    await waitFor('the reload', async () => m.log().includes('Starting replication at'));
    m.proc.kill('SIGSTOP');
    await burst(5000, 'resync');
    m.proc.kill('SIGCONT');
    await waitFor('the resync', async () => m.log().includes('RESYNC:'), 30_000);
    await write(src, 'PUT', '/after/resync', { value: 'live' });
    const target = await currentIndex(src);
    await waitFor('replication after the resync', async () => (await recordedIndex(dst)) >= target, 30_000);
    expect(await tree(dst, '/')).toEqual(await tree(src, '/'));
    const written = /RESYNC: .*: (\d+) removed, (\d+) written/.exec(m.log());
    expect(written).not.toBeNull();
    // the 200 stable keys were not rewritten: only the burst's keys differ
    expect(Number(written![2])).toBeLessThanOrEqual(301);
    expect(await stopMirror(m)).toBe(0);
  });
});
