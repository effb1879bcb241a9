import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { type EtcdClient, etcdClientForUrl } from '../../../src/etcd/index.js';
import {
  type EtcdPair,
  type MirrorProcess,
  currentIndex,
  httpGet,
  recordedIndex,
  runMirrorToEnd,
  startEtcdPair,
  startMirror,
  stopMirror,
  tree,
  valueOf,
  waitFor,
  write,
} from './helpers.js';

jest.setTimeout(60_000);

let pair: EtcdPair;
let src: EtcdClient;
let dst: EtcdClient;
let LISTEN = '';

beforeAll(async () => {
  pair = await startEtcdPair(1);
  LISTEN = `${pair.subnet}.3:8000`;
  src = pair.src.client;
  dst = pair.dst.client;
});

afterAll(async () => {
  await pair.stop();
});

function args(...extra: string[]): string[] {
  return [
    '--src-prefix',
    '/src',
    '--dst-prefix',
    '/dst',
    '--strip',
    '--src-ignore-keys-regex',
    '^/src/locks(/|$)',
    ...extra,
    pair.src.url,
    pair.dst.url,
  ];
}

/** Waits until the destination index key records the source's current index. */
async function waitCaughtUp(indexKey = '/__replication/dst'): Promise<void> {
  const target = await currentIndex(src);
  await waitFor(
    `index key ${indexKey} at ${target}`,
    async () => (await recordedIndex(dst, indexKey)) >= target,
  );
}

describe('etcdmirror between two real etcd clusters', () => {
  let mirror: MirrorProcess;

  test('it refuses to start without an index key in the destination, and says to run --reload', async () => {
    const r = await runMirrorToEnd(args('--listen', 'off'));
    expect(r.code).toBe(3);
    expect(r.log).toContain('no replication index in the destination at /__replication/dst');
    expect(r.log).toContain('--reload');
  });

  test('--reload erases the destination prefix loudly, copies everything and records the source index', async () => {
    await write(src, 'PUT', '/src/a', { value: '1' });
    await write(src, 'PUT', '/src/dir/x', { value: 'x' });
    await write(src, 'PUT', '/src/empty', { dir: 'true' });
    await write(src, 'PUT', '/src/locks/held', { value: 'me' });
    await write(dst, 'PUT', '/dst/stray', { value: 'not in the source' });
    await write(dst, 'PUT', '/elsewhere', { value: 'kept' });
    mirror = startMirror(args('--reload', '--listen', LISTEN));
    await waitCaughtUp();
    expect(mirror.log()).toContain('ERASING EVERYTHING under /dst');
    // logged just after the index is recorded: the pipe may not have carried it yet
    await waitFor('the start to be logged', () => mirror.log().includes('Starting replication at'));
    expect(await tree(dst, '/dst')).toEqual([
      ['/a', { kind: 'file', value: '1' }],
      ['/dir', { kind: 'dir' }],
      ['/dir/x', { kind: 'file', value: 'x' }],
      ['/empty', { kind: 'dir' }],
    ]);
    expect(await valueOf(dst, '/elsewhere')).toBe('kept');
  });

  test('every action is replicated strictly under the destination prefix, and the index key follows every batch', async () => {
    const before = await currentIndex(src);
    // batch 1: create, set, update, compareAndSwap, POST
    await write(src, 'PUT', '/src/c', { value: 'created', prevExist: 'false' });
    await write(src, 'PUT', '/src/s', { value: 's1' });
    await write(src, 'PUT', '/src/s', { value: 's2' });
    await write(src, 'PUT', '/src/s', { value: 's3', prevExist: 'true' });
    await write(src, 'PUT', '/src/a', { value: '2', prevValue: '1' });
    const posted = await write(src, 'POST', '/src/queue', { value: 'job' });
    await waitCaughtUp();
    expect(await recordedIndex(dst, '/__replication/dst')).toBeGreaterThan(before);
    // batch 2: compareAndDelete, delete of a file, recursive delete of a directory, a directory, a TTL
    await write(src, 'PUT', '/src/cad', { value: 'v' });
    await write(src, 'DELETE', '/src/cad', { prevValue: 'v' });
    await write(src, 'DELETE', '/src/c');
    await write(src, 'DELETE', '/src/dir', { recursive: 'true' });
    await write(src, 'PUT', '/src/newdir', { dir: 'true' });
    await write(src, 'PUT', '/src/newdir/file', { value: 'f' });
    await write(src, 'PUT', '/src/ttl', { value: 'short', ttl: '1' });
    await waitCaughtUp();
    // the TTL is not copied: the source's expire event deletes the key
    expect(await valueOf(dst, '/dst/ttl')).toBe('short');
    await waitFor(
      'the source key to expire',
      async () => (await valueOf(src, '/src/ttl')) === undefined,
      10_000,
    );
    await waitCaughtUp();
    // batch 3: ignored and hidden keys are not replicated but still move the index
    const ignored = await write(src, 'PUT', '/src/locks/other', { value: 'x' });
    const hidden = await write(src, 'PUT', '/src/_hidden', { value: 'h' });
    await waitFor(
      'the index to pass the ignored keys',
      async () => (await recordedIndex(dst, '/__replication/dst')) >= Math.max(ignored, hidden),
    );
    expect(await valueOf(dst, '/dst/locks/other')).toBeUndefined();
    expect(await valueOf(dst, '/dst/_hidden')).toBeUndefined();

    const source = (await tree(src, '/src')).filter(([k]) => !k.startsWith('/locks'));
    expect(await tree(dst, '/dst')).toEqual(source);
    expect(source).toContainEqual([
      `/queue/${String(posted).padStart(20, '0')}`,
      { kind: 'file', value: 'job' },
    ]);

    const metrics = (await httpGet(`http://${LISTEN}/metrics`)).text;
    for (const action of [
      'create',
      'set',
      'update',
      'compareAndSwap',
      'compareAndDelete',
      'delete',
      'expire',
    ]) {
      expect(metrics).toMatch(new RegExp(`etcdmirror_events_applied_total\\{action="${action}"\\} [1-9]`));
    }
    expect(metrics).toMatch(/etcdmirror_events_ignored_total [1-9]/);
    expect(metrics).toContain('etcdmirror_errors_total 0');
    expect(metrics).toMatch(/etcdmirror_last_apply_timestamp_seconds [1-9]/);
  });

  test('/lag reports the source index minus the applied index, and /health says ok', async () => {
    await waitCaughtUp();
    await waitFor('/lag to reach 0', async () => (await httpGet(`http://${LISTEN}/lag`)).text.trim() === '0');
    expect(await httpGet(`http://${LISTEN}/health`)).toEqual({ status: 200, text: 'ok\n' });
    const metrics = (await httpGet(`http://${LISTEN}/metrics`)).text;
    const applied = Number(/etcdmirror_applied_index (\d+)/.exec(metrics)![1]);
    expect(applied).toBe(await recordedIndex(dst, '/__replication/dst'));
    expect(metrics).toContain('etcdmirror_lag_events 0');
  });

  test('SIGTERM stops it cleanly with exit code 0, and a restart resumes from the index key', async () => {
    expect(await stopMirror(mirror)).toBe(0);
    expect(mirror.log()).toContain('replication stopped; last applied index');
    await write(src, 'PUT', '/src/while-stopped', { value: 'later' });
    mirror = startMirror(args('--listen', LISTEN));
    await waitCaughtUp();
    expect(await valueOf(dst, '/dst/while-stopped')).toBe('later');
  });

  test('the destination going away for a few seconds delays replication without stopping it', async () => {
    const restarting = pair.dst.restart(3_000);
    await write(src, 'PUT', '/src/during-restart', { value: 'waited' });
    await restarting;
    await waitCaughtUp();
    expect(await valueOf(dst, '/dst/during-restart')).toBe('waited');
    expect(mirror.proc.exitCode).toBeNull();
  });

  test('an injected inconsistency stops replication with the key, the expected and found values and the last applied index', async () => {
    await write(dst, 'PUT', '/dst/a', { value: 'tampered' });
    const last = await currentIndex(src);
    await write(src, 'PUT', '/src/a', { value: '3', prevValue: '2' });
    const code = await mirror.exited;
    expect(code).toBe(4);
    const log = mirror.log();
    expect(log).toContain('inconsistency at /dst/a');
    expect(log).toContain('expected value "2", found value "tampered"');
    expect(log).toContain(`last applied index ${last}`);
  });

  test('with the first member of each cluster down it starts, reads its index through the next one and replicates', async () => {
    // an address of the pair's range nobody listens on: a member that is down
    const dead = `http://${pair.subnet}.4:2379`;
    const probe = etcdClientForUrl(dead, { timeoutMs: 2000 });
    await expect(probe.get('/')).rejects.toMatchObject({ reason: 'refused' });
    probe.close();
    const firstDown = (...extra: string[]) => [
      '--src-prefix',
      '/src',
      '--dst-prefix',
      '/firstdown',
      '--strip',
      '--listen',
      'off',
      ...extra,
      `${dead},${pair.src.url}`,
      `${dead},${pair.dst.url}`,
    ];
    const reloading = startMirror(firstDown('--reload'));
    await write(src, 'PUT', '/src/first-down', { value: 'one' });
    await waitFor('the key through the second members', async () => {
      if (reloading.proc.exitCode !== null)
        throw new Error(`the mirror exited with ${reloading.proc.exitCode}:\n${reloading.log()}`);
      return (await valueOf(dst, '/firstdown/first-down')) === 'one';
    });
    expect(await stopMirror(reloading)).toBe(0);
    // the start-up read of the index goes to the dead member first, and must not end the mirror
    const restarted = startMirror(firstDown());
    await write(src, 'PUT', '/src/first-down', { value: 'two' });
    await waitFor('the key after a restart', async () => {
      if (restarted.proc.exitCode !== null)
        throw new Error(`the mirror exited with ${restarted.proc.exitCode}:\n${restarted.log()}`);
      return (await valueOf(dst, '/firstdown/first-down')) === 'two';
    });
    expect(await stopMirror(restarted)).toBe(0);
    expect(restarted.log()).not.toContain('ERROR');
  });

  test('without --strip the source key is kept whole under the destination prefix', async () => {
    const m = startMirror([
      '--reload',
      '--src-prefix',
      '/src',
      '--dst-prefix',
      '/whole',
      '--listen',
      'off',
      pair.src.url,
      pair.dst.url,
    ]);
    await write(src, 'PUT', '/src/nostrip', { value: 'n' });
    const target = await currentIndex(src);
    await waitFor(
      'the whole-key mirror',
      async () => (await recordedIndex(dst, '/__replication/whole')) >= target,
    );
    expect(await valueOf(dst, '/whole/src/nostrip')).toBe('n');
    expect(await valueOf(dst, '/whole/src/a')).toBe('3');
    expect(await stopMirror(m)).toBe(0);
  });
});
