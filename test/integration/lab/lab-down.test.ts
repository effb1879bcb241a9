import { createServer, type Server } from 'node:net';
import { describe, expect, test } from '@jest/globals';
import { labProcesses } from '../../../src/lab/down.js';
import { labDown, labStatus, labUp } from '../../../src/lab/index.js';
import { LabLayout } from '../../../src/lab/layout.js';
import { currentListeners } from '../../../src/lab/ports.js';
import { processState } from '../../../src/lab/processes.js';

// These tests stop and restart the test lab itself; each leaves it up again for other suites.
const dir = process.env.GALLEY_TEST_LAB_DIR ?? '/tmp/galley-test-lab';
const base = process.env.GALLEY_TEST_LAB_BASE ?? '127.21';
const benchHosts = Number(process.env.GALLEY_TEST_LAB_BENCH_HOSTS ?? 50);
const layout = new LabLayout(dir);
const etcdPids = () =>
  labStatus({ dir, base })
    .processes.filter((p) => p.unit === 'etcd')
    .map((p) => p.pid);

describe('lab up and lab down', () => {
  test('lab up on a healthy lab keeps it as it is', async () => {
    const before = etcdPids();
    const r = await labUp({ dir, base, benchHosts });
    expect(r.reused).toBe(true);
    expect(etcdPids()).toEqual(before);
  }, 60_000);

  test('lab up recovers from a crashed lab (processes killed, stale PID files left)', async () => {
    const crashed = labProcesses(layout);
    for (const p of crashed.filter((_, i) => i % 2 === 0)) process.kill(p.pid, 'SIGKILL');
    const r = await labUp({ dir, base, benchHosts });
    expect(r.reused).toBe(false);
    expect(labStatus({ dir, base }).up).toBe(true);
    expect(crashed.filter((p) => processState(p.pid) === 'running')).toEqual([]);
  }, 60_000);

  test('lab down leaves no process and no listener behind', async () => {
    const before = labProcesses(layout);
    expect(before.map((p) => p.name)).toEqual(
      expect.arrayContaining(['etcd', 'nginx', 'sshd', 'gdnsd', 'knotd']),
    );
    await labDown({ dir, base });
    expect(before.filter((p) => processState(p.pid) === 'running')).toEqual([]);
    expect(labProcesses(layout)).toEqual([]);
    expect((await currentListeners()).filter((l) => l.address.startsWith(`${base}.`))).toEqual([]);
    expect(labStatus({ dir, base }).up).toBe(false);
  }, 60_000);

  test('lab up refuses a taken port with one line naming the address and port, and starts once it is free', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(2380, `${base}.1.8`, r));
    try {
      await expect(labUp({ dir, base, benchHosts })).rejects.toThrow(
        `${base}.1.8:2380/tcp is already in use (needed by conf1008.eqiad.wmnet)`,
      );
    } finally {
      await new Promise((r) => blocker.close(r));
    }
    const r = await labUp({ dir, base, benchHosts });
    expect(r.reused).toBe(false);
    expect(labStatus({ dir, base }).up).toBe(true);
  }, 60_000);
});
