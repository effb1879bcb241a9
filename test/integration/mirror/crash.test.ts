import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type { EtcdClient } from '../../../src/etcd/index.js';
import {
  type EtcdPair,
  type MirrorProcess,
  currentIndex,
  recordedIndex,
  startEtcdPair,
  startMirror,
  stopMirror,
  tree,
  waitFor,
  write,
} from './helpers.js';

// 20 restarts of a node process through tsx: a few seconds each, more on a loaded machine
jest.setTimeout(600_000);

let pair: EtcdPair;
let src: EtcdClient;
let dst: EtcdClient;

beforeAll(async () => {
  pair = await startEtcdPair(3);
  src = pair.src.client;
  dst = pair.dst.client;
});

afterAll(async () => {
  await pair.stop();
});

/** A deterministic pseudo-random sequence, so that a failure can be replayed. */
function random(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s % n;
  };
}

/**
 * The most source events the load lets the mirror's recorded index fall behind: half of etcd's
 * 1,000-event history. Each restart leaves the mirror with what was written while it was down
 * and starting (seconds for a node process on a loaded machine) on top of what it had not
 * recorded: unchecked, at 100 writes/s that backlog grows with the machine's load until the
 * next event leaves the history, and the mirror rightly stops with a gap (exit 5; gap.test.ts
 * covers that). Holding the load back keeps this test about crash safety on any machine; a
 * mirror that stops making progress still fails it (no progress after a restart, too few
 * writes, or no catch-up).
 */
const MAX_LAG_EVENTS = 500;

/** The load this test puts through the mirror, at the least. */
const MIN_WRITES = 1000;

/**
 * Writes random operations of every kind (set, create, compare-and-swap, delete, compare-and-
 * delete, POST, recursive directory delete, TTL) at about `perSecond` until stopped, pausing
 * while the mirror is more than MAX_LAG_EVENTS behind. Refused writes are fine: they make no
 * event. Resolves with the number of writes.
 */
function startLoad(perSecond: number, seed: number): { readonly writes: number; stop(): Promise<number> } {
  const rand = random(seed);
  let isRunning = true;
  let count = 0;
  const values = new Map<string, string>();
  const lag = async (): Promise<number> => (await currentIndex(src)) - (await recordedIndex(dst));
  const loop = (async () => {
    let started = Date.now();
    while (isRunning) {
      if (count % 20 === 0 && (await lag()) > MAX_LAG_EVENTS) {
        const pauseStarted = Date.now();
        while (isRunning && (await lag()) > MAX_LAG_EVENTS) await new Promise((r) => setTimeout(r, 100));
        // the pause does not become a burst: the schedule resumes from now
        started += Date.now() - pauseStarted;
        if (!isRunning) break;
      }
      const key = rand(3) === 0 ? `/load/d${rand(5)}/f${rand(8)}` : `/load/k${rand(40)}`;
      const value = `v${count}`;
      const op = rand(20);
      const known = values.get(key) ?? 'none';
      const record = (p: Promise<number>, after: string | undefined): Promise<void> =>
        p.then(
          () => void (after === undefined ? values.delete(key) : values.set(key, after)),
          () => undefined,
        );
      if (op < 8) await record(write(src, 'PUT', key, { value }), value);
      else if (op < 10) await record(write(src, 'PUT', key, { value, prevExist: 'false' }), value);
      else if (op < 13) await record(write(src, 'PUT', key, { value, prevValue: known }), value);
      else if (op < 15) await record(write(src, 'DELETE', key), undefined);
      else if (op < 16) await record(write(src, 'DELETE', key, { prevValue: known }), undefined);
      else if (op < 17) await write(src, 'POST', '/load/queue', { value }).catch(() => 0);
      else if (op < 18) {
        const dir = `/load/d${rand(5)}`;
        await write(src, 'DELETE', dir, { recursive: 'true' }).catch(() => 0);
        for (const k of [...values.keys()]) if (k.startsWith(`${dir}/`)) values.delete(k);
      } else if (op < 19) await write(src, 'PUT', `/load/ttl${rand(4)}`, { value, ttl: '1' }).catch(() => 0);
      else await write(src, 'PUT', `/spicerack/locks/etcd/l${rand(3)}`, { value }).catch(() => 0);
      count++;
      const ahead = count / perSecond - (Date.now() - started) / 1000;
      if (ahead > 0) await new Promise((r) => setTimeout(r, ahead * 1000));
    }
  })();
  return {
    get writes() {
      return count;
    },
    stop: async () => {
      isRunning = false;
      await loop;
      return count;
    },
  };
}

describe('crash safety', () => {
  test('SIGKILL at random points under load, 20 times, leaves the destination equal to the source', async () => {
    const rand = random(7);
    const first = startMirror(['--reload', '--listen', 'off', pair.src.url, pair.dst.url]);
    await waitFor('the reload', async () => first.log().includes('Starting replication at'));
    const load = startLoad(100, 11);
    let m = first;
    const logs: string[] = [];
    const alive = (current: MirrorProcess): void => {
      if (current.proc.exitCode !== null)
        throw new Error(`the mirror exited with ${current.proc.exitCode} by itself:\n${current.log()}`);
    };
    for (let kill = 0; kill < 20; kill++) {
      // One kill in four during start-up; the others once the restarted mirror has recorded
      // progress (so that it always has, however slowly a loaded machine runs it), anywhere in
      // the next 2.5 s: in the replay of what the killed one left in doubt, the catch-up, or live.
      if (kill % 4 !== 3) {
        const current = m;
        // bounds on a node process (tsx) on a loaded machine, and on a mirror that is stuck
        await waitFor(
          'the mirror to start replicating',
          () => {
            alive(current);
            return current.log().includes('Starting replication at');
          },
          60_000,
        );
        const from = Number(/Starting replication at index (\d+)/.exec(current.log())![1]) - 1;
        await waitFor(
          `the restarted mirror to record progress past index ${from}`,
          async () => {
            alive(current);
            return (await recordedIndex(dst)) > from;
          },
          60_000,
        );
      }
      await new Promise((r) => setTimeout(r, rand(2500)));
      if (m.proc.exitCode !== null)
        throw new Error(`the mirror exited with ${m.proc.exitCode} before kill #${kill + 1}:\n${m.log()}`);
      m.proc.kill('SIGKILL');
      await m.exited;
      logs.push(m.log());
      m = startMirror(['--listen', 'off', pair.src.url, pair.dst.url]);
    }
    // the load goes on through the last mirror until it has made MIN_WRITES writes; one that no
    // longer makes progress holds it back
    await waitFor(
      `${MIN_WRITES} writes through the mirror`,
      () => {
        alive(m);
        return load.writes >= MIN_WRITES;
      },
      120_000,
    );
    const writes = await load.stop();
    await waitFor(
      'TTL keys to expire on the source',
      async () => (await tree(src, '/load')).every(([k]) => !k.startsWith('/ttl')),
      10_000,
    );
    const target = await currentIndex(src);
    await waitFor(
      'the mirror to catch up',
      async () => {
        if (m.proc.exitCode !== null)
          throw new Error(
            `the mirror exited with ${m.proc.exitCode}:\n${m.log()}\nearlier runs:\n${logs.join('\n')}`,
          );
        return m.log().includes('Starting replication at') && (await recordedIndex(dst)) >= target;
      },
      60_000,
    );
    const source = (await tree(src, '/')).filter(([k]) => !k.startsWith('/spicerack/locks/etcd'));
    const destination = (await tree(dst, '/')).filter(([k]) => !k.startsWith('/spicerack/locks/etcd'));
    const code = await stopMirror(m);
    logs.push(m.log());
    expect(writes).toBeGreaterThanOrEqual(MIN_WRITES);
    expect(logs.filter((l) => l.includes('ERROR'))).toEqual([]);
    expect(code).toBe(0);
    expect(destination).toEqual(source);
    expect(await tree(dst, '/spicerack/locks/etcd')).toEqual([]);
  });
});
