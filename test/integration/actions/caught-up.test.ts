import { afterAll, describe, expect, test } from '@jest/globals';
import { checkCaughtUp } from '../../../src/actions/replication.js';
import { clearLiveKeys, LiveWriter, lostWrites } from '../../../src/lab/live-clients.js';
import { labConfig } from '../lab.js';
import { labEnv } from './harness.js';

const config = labConfig();
const env = labEnv(config);
afterAll(() => env.close());
const master = config.replication!.master;
const replica = config.datacenters.find((d) => d !== master)!;

describe('"the replica holds everything the master acknowledged", while clients still write', () => {
  test('holds, time after time, under two writers every 20 ms (a rollback guard checks this while TO is read-write)', async () => {
    const writers = [
      new LiveWriter(config, 'caught-up-a', { reresolve: 'on-refusal', intervalMs: 20 }).start(),
      new LiveWriter(config, 'caught-up-b', { reresolve: 'on-refusal', intervalMs: 20 }).start(),
    ];
    const held: string[] = [];
    try {
      await new Promise((r) => setTimeout(r, 500));
      for (let i = 0; i < 30; i++) held.push(await checkCaughtUp(env, master, replica, 15_000));
    } finally {
      const records = await Promise.all(writers.map((w) => w.stop()));
      const acks = records.flatMap((r) => r.acks);
      expect(acks.length).toBeGreaterThan(20);
      expect(await lostWrites(config, master, acks)).toEqual([]);
      await clearLiveKeys(config, master);
    }
    expect(held).toHaveLength(30);
    for (const line of held)
      expect(line).toMatch(new RegExp(`^${replica} holds the \\d+ replicated keys of ${master}`));
  }, 180_000);
});
