/**
 * Faults injected into the test lab, and their repair, for the switchover's fault matrix:
 * a member's etcd killed (SIGKILL, by the PID the lab's systemctl recorded), an authdns
 * server's gdnsd stopped, a host's sshd killed. Every fault is undone by `repair()` so that
 * cases stay independent. Only processes of the test lab are touched, by PID.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { GalleyConfig } from '../../src/config/schema.js';
import { etcdClientFor } from '../../src/etcd/index.js';
import { LabLayout } from '../../src/lab/layout.js';
import { isRunning, readPidFile, signal, waitStopped } from '../../src/lab/processes.js';
import { runInHost } from '../../src/lab/up.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function testLabLayout(): LabLayout {
  const dir = process.env.GALLEY_TEST_LAB_DIR;
  if (!dir) throw new Error('GALLEY_TEST_LAB_DIR is not set: run through the integration global setup');
  return new LabLayout(dir);
}

/** The PID of a unit of a lab host (as the lab's systemctl recorded it). */
function unitPid(layout: LabLayout, host: string, unit: string): number | undefined {
  return readPidFile(join(layout.hostDir(host), 'run', 'lab-units', `${unit}.pid`));
}

/** The member that leads a datacenter's cluster now. */
export async function leaderOf(config: GalleyConfig, datacenter: string): Promise<string> {
  const cluster = Object.values(config.etcd.clusters).find((c) => c.datacenter === datacenter)!;
  for (let attempt = 0; attempt < 50; attempt++) {
    for (const host of cluster.members) {
      const c = etcdClientFor(config, cluster.name, { via: 'local', members: [host], timeoutMs: 1000 });
      try {
        if ((await c.selfStats()).state === 'StateLeader') return host;
      } catch {
        // down or electing
      } finally {
        c.close();
      }
    }
    await sleep(200);
  }
  throw new Error(`no leader in ${datacenter}`);
}

export type Fault =
  | 'SIGINT'
  | 'SIGTERM'
  | 'authdns-stopped'
  | 'from-leader-killed'
  | 'to-leader-killed'
  | 'mirror-target-killed'
  | 'mirror-sshd-killed';
export const FAULTS: readonly Fault[] = [
  'SIGINT',
  'SIGTERM',
  'authdns-stopped',
  'from-leader-killed',
  'to-leader-killed',
  'mirror-target-killed',
  'mirror-sshd-killed',
];

/** Injects lab faults and repairs them. */
export class LabFaults {
  readonly #repairs: (() => Promise<void>)[] = [];
  readonly layout = testLabLayout();
  constructor(readonly config: GalleyConfig) {}

  /** Kills a member's etcd with SIGKILL. */
  async killEtcd(host: string): Promise<string> {
    const unit =
      this.config.etcd.clusters[
        Object.values(this.config.etcd.clusters).find((c) => c.members.includes(host))!.name
      ]!.unit;
    const pid = unitPid(this.layout, host, unit);
    if (!isRunning(pid)) throw new Error(`etcd on ${host} is not running`);
    signal(pid, 'SIGKILL');
    await waitStopped([pid], 5000);
    this.#repairs.push(async () => {
      await runInHost(this.layout, host, ['systemctl', 'start', unit]);
    });
    return `etcd on ${host} killed (pid ${pid})`;
  }

  /** Stops gdnsd on an authdns server. */
  async stopAuthdns(host: string): Promise<string> {
    await runInHost(this.layout, host, ['systemctl', 'stop', 'gdnsd']);
    this.#repairs.push(async () => {
      await runInHost(this.layout, host, ['systemctl', 'start', 'gdnsd']);
    });
    return `gdnsd on ${host} stopped`;
  }

  /** Kills a host's sshd (the listener; sessions already open live on, as on a real host). */
  async killSshd(host: string): Promise<string> {
    const pidFile = join(this.layout.hostDir(host), 'run', 'sshd.pid');
    const pid = readPidFile(pidFile);
    if (!isRunning(pid)) throw new Error(`sshd on ${host} is not running`);
    // Another process of the host keeps its namespaces: sshd is started again inside them.
    const anchor = ['etcd', 'nginx', 'gdnsd']
      .map((u) => unitPid(this.layout, host, u))
      .find((p) => isRunning(p));
    if (!anchor) throw new Error(`no other process of ${host} to restart sshd in`);
    signal(pid, 'SIGKILL');
    await waitStopped([pid], 5000);
    this.#repairs.push(async () => {
      const dir = this.layout.hostDir(host);
      const child = spawn(
        'nsenter',
        [
          '-t',
          String(anchor),
          '-u',
          '-m',
          '--',
          '/usr/sbin/sshd',
          '-D',
          '-f',
          join(dir, 'sshd_config'),
          '-E',
          join(dir, 'sshd.log'),
        ],
        {
          detached: true,
          stdio: 'ignore',
          cwd: '/',
          env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root' },
        },
      );
      child.unref();
      for (let i = 0; i < 100 && !isRunning(readPidFile(pidFile)); i++) await sleep(50);
      if (!isRunning(readPidFile(pidFile))) throw new Error(`sshd on ${host} did not come back`);
    });
    return `sshd on ${host} killed (pid ${pid})`;
  }

  /** Undoes every fault, newest first, and waits until every etcd member is healthy again. */
  async repair(): Promise<void> {
    while (this.#repairs.length) await this.#repairs.pop()!();
    for (const c of Object.values(this.config.etcd.clusters)) {
      if (c.inService === false) continue; // defined, not started (etcd.bootstrap's spare cluster)
      for (const host of c.members) {
        const client = etcdClientFor(this.config, c.name, { via: 'local', members: [host], timeoutMs: 1000 });
        try {
          for (let i = 0; i < 150; i++) {
            const ok = await client.health().then(
              (h) => h.healthy,
              () => false,
            );
            if (ok) break;
            if (i === 149) throw new Error(`etcd on ${host} is not healthy after the repair`);
            await sleep(200);
          }
        } finally {
          client.close();
        }
      }
    }
  }
}
