import { afterAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import {
  etcdClientFor,
  etcdLockManagerFor,
  lockSegment,
  SpicerackLockManager,
} from '../../src/etcd/index.js';
import { labConfigPath } from '../integration/lab.js';
import { runCli, watchCli } from '../support/cli.js';

/**
 * Locks in spicerack's key layout (etcd.lock_layout: spicerack), on the lab's etcd: a lock a
 * spicerack cookbook holds (its key written exactly as spicerack writes it) blocks a Galley
 * run, and Galley's holders are written in the format spicerack reads. `--lock-wait` waits
 * for a held lock, showing its holder, instead of failing.
 */
const tmp = () => mkdtempSync(join(tmpdir(), 'galley-spicerack-'));

/** The lab's environment file with lock_layout: spicerack. */
function spicerackConfigFile(): string {
  const doc = parse(readFileSync(labConfigPath(), 'utf8')) as { etcd: Record<string, unknown> };
  delete doc.etcd.lock_prefix;
  doc.etcd.lock_layout = 'spicerack';
  const file = join(tmp(), 'galley-spicerack.yaml');
  writeFileSync(file, stringify(doc));
  return file;
}

const configFile = spicerackConfigFile();
const config = loadConfig(configFile);
const master = config.replication!.master;
const client = etcdClientFor(config, master, { via: 'local' });
afterAll(() => client.close());

/** The CLI, started; `seen(text)` resolves once its stdout shows `text`. */
function spawnCli(args: string[]) {
  const run = watchCli(args, { env: { GALLEY_STATE_DIR: tmp() } });
  return { seen: run.seen, done: run.done };
}

/** `str(datetime.utcnow())`, as spicerack's ConcurrentLock.to_dict writes `created`. */
const pythonUtcNow = () => new Date().toISOString().replace('T', ' ').replace('Z', '000');

/** Writes the key spicerack's Lock.acquire writes for a cookbook lock held by `owner`. */
async function spicerackHolds(name: string, owner: string): Promise<string> {
  const key = `/spicerack/locks/cookbooks/${lockSegment(name)}`;
  await client.set(
    key,
    JSON.stringify({ [randomUUID()]: { concurrency: 1, created: pythonUtcNow(), owner, ttl: 600 } }),
  );
  return key;
}

describe("locks in spicerack's layout (the lab)", () => {
  test('the config chooses the layout: its default prefix is /spicerack/locks/cookbooks', () => {
    expect(config.etcd.lockLayout).toBe('spicerack');
    expect(config.etcd.lockPrefix).toBe('/spicerack/locks/cookbooks');
  });

  test('a lock held by a spicerack-style key blocks a Galley run, which names the holder and changes nothing', async () => {
    const dir = join(tmp(), 'out');
    const key = await spicerackHolds(`examples.files:${dir}`, 'bob@cumin1001 [4242]');
    try {
      const r = runCli(['examples.files', dir, '-y', '-c', configFile]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`lock examples.files:${dir} is held by bob@cumin1001 [4242]`);
      expect(existsSync(dir)).toBe(false);
    } finally {
      await client.delete(key);
    }
    const r = runCli(['examples.files', dir, '-y', '-c', configFile]);
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, 'file1.txt'))).toBe(true);
    // Released: spicerack deletes a key with no holder left, and so does Galley.
    await expect(client.get(key)).rejects.toThrow(/key not found/i);
  }, 180_000);

  test("a Galley holder is written as spicerack's ConcurrentLock (concurrency, created, owner, ttl) and removed on release", async () => {
    const locks = new SpicerackLockManager({ client, prefix: config.etcd.lockPrefix });
    const name = `galley-test-${randomUUID().slice(0, 8)}`;
    const held = await locks.acquire({
      name,
      owner: 'carol@cumin2002 [99]',
      runId: '20261201-000000-abcd',
      ttlMs: 60_000,
    });
    try {
      const value = JSON.parse(
        (await client.get(`/spicerack/locks/cookbooks/${name}`)).node.value!,
      ) as Record<string, Record<string, unknown>>;
      const holders = Object.values(value);
      expect(holders).toHaveLength(1);
      expect(Object.keys(holders[0]!).sort()).toEqual(['concurrency', 'created', 'owner', 'ttl']);
      expect(holders[0]).toMatchObject({ concurrency: 1, owner: 'carol@cumin2002 [99]', ttl: 60 });
      expect(holders[0]!.created).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
      // A second Galley holder is refused while the first holds it.
      await expect(
        locks.acquire({ name, owner: 'dave@cumin1002 [7]', runId: '20261201-000000-dcba', ttlMs: 60_000 }),
      ).rejects.toThrow(/is held by carol@cumin2002 \[99\] since .* \(run 20261201-000000-abcd\)/);
    } finally {
      await held.release();
    }
    await expect(client.get(`/spicerack/locks/cookbooks/${name}`)).rejects.toThrow(/key not found/i);
  });

  test('an expired spicerack holder (created + ttl in the past) does not block', async () => {
    const dir = join(tmp(), 'out');
    const key = `/spicerack/locks/cookbooks/${lockSegment(`examples.files:${dir}`)}`;
    await client.set(
      key,
      JSON.stringify({
        [randomUUID()]: {
          concurrency: 1,
          created: '2020-01-01 00:00:00.000000',
          owner: 'old@cumin1001 [1]',
          ttl: 60,
        },
      }),
    );
    const r = runCli(['examples.files', dir, '-y', '-c', configFile]);
    expect(r.code).toBe(0);
  }, 120_000);

  test('--lock-wait waits for a held lock, showing its holder, and runs once it is released', async () => {
    const dir = join(tmp(), 'out');
    const key = await spicerackHolds(`examples.files:${dir}`, 'erin@cumin1001 [5150]');
    const run = spawnCli(['examples.files', dir, '-y', '-c', configFile, '--lock-wait', '60s']);
    await run.seen('⏳'); // it waits, showing the holder
    expect(existsSync(dir)).toBe(false);
    await client.delete(key);
    const r = await run.done;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`⏳ lock examples.files:${dir} is held by erin@cumin1001 [5150]`);
    expect(r.stdout).toContain('waiting up to 1m0s');
    expect(existsSync(join(dir, 'file1.txt'))).toBe(true);
  }, 120_000);

  test('--lock-wait gives up at its deadline with the holder, exit 1, nothing changed (Galley layout too)', async () => {
    const dir = join(tmp(), 'out');
    const locks = etcdLockManagerFor(loadConfig(labConfigPath()));
    const held = await locks.acquire({
      name: `examples.files:${dir}`,
      owner: 'frank@cumin2002 [31]',
      runId: 'other',
      ttlMs: 60_000,
    });
    try {
      const r = runCli(['examples.files', dir, '-y', '--lock-wait', '3s'], {
        GALLEY_CONFIG: labConfigPath(),
      });
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('is held by frank@cumin2002 [31]');
      expect(r.stderr).toContain('(still, after waiting 3.00s)');
      expect(existsSync(dir)).toBe(false);
    } finally {
      await held.release();
    }
  }, 120_000);
});
