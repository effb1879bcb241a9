import { afterAll, beforeAll } from '@jest/globals';
import { EtcdClient } from '../../../src/etcd/client.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Real etcd 3.4 processes (v2 API enabled) that a test starts and stops itself, on addresses
 * of the etcd engineer's range (127.32.200.x), for what the shared lab should not be put
 * through: members joining and leaving, members stopped for fail-over.
 */
export interface LocalMember {
  name: string;
  address: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  process: ChildProcess | undefined;
}

const ETCD = process.env.ETCD_BIN ?? 'etcd';

/** Every etcd this process started, killed if the process exits without destroy(). */
const started = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = http.get(url, { timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', reject);
  });
}

/** Fails if something already answers at a client URL (an etcd left over by a killed test run). */
async function assertFree(clientUrl: string): Promise<void> {
  const answered = await get(`${clientUrl}/version`).then(
    () => true,
    () => false,
  );
  if (answered)
    throw new Error(
      `something already answers at ${clientUrl}: an etcd left over by an interrupted test run? Stop it first.`,
    );
}

/** Waits until `/health` of a member says true (failing early if its process exits). */
export async function waitHealthy(clientUrl: string, timeoutMs = 20_000, proc?: ChildProcess): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    if (proc && (proc.exitCode !== null || proc.signalCode !== null))
      throw new Error(
        `etcd for ${clientUrl} exited (${proc.exitCode ?? proc.signalCode}) before it was healthy`,
      );
    try {
      const r = await get(`${clientUrl}/health`);
      if (r.status === 200 && r.body.includes('true')) return;
      last = `${r.status} ${r.body}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`etcd at ${clientUrl} not healthy after ${timeoutMs} ms: ${last}`);
}

export class LocalEtcdCluster {
  readonly members: LocalMember[] = [];
  readonly #root: string;
  readonly #token: string;

  /** `subnet` picks 127.32.<subnet>.x so that parallel test files do not collide. */
  constructor(
    readonly subnet: number,
    size: number,
  ) {
    this.#root = mkdtempSync(join(tmpdir(), `galley-etcd-${subnet}-`));
    this.#token = `galley-test-${subnet}-${process.pid}`;
    for (let i = 1; i <= size; i++) this.members.push(this.#member(i));
  }

  #member(i: number): LocalMember {
    const address = `127.32.${this.subnet}.${i}`;
    return {
      name: `m${i}`,
      address,
      clientUrl: `http://${address}:2379`,
      peerUrl: `http://${address}:2380`,
      dataDir: join(this.#root, `m${i}`),
      process: undefined,
    };
  }

  get clientUrls(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  #initialCluster(members: LocalMember[]): string {
    return members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  }

  #spawn(m: LocalMember, state: 'new' | 'existing', cluster: LocalMember[]): void {
    const log = openSync(join(this.#root, `${m.name}.log`), 'a');
    m.process = spawn(
      ETCD,
      [
        '--name',
        m.name,
        '--data-dir',
        m.dataDir,
        '--enable-v2=true',
        '--listen-client-urls',
        m.clientUrl,
        '--advertise-client-urls',
        m.clientUrl,
        '--listen-peer-urls',
        m.peerUrl,
        '--initial-advertise-peer-urls',
        m.peerUrl,
        '--initial-cluster',
        this.#initialCluster(cluster),
        '--initial-cluster-state',
        state,
        '--initial-cluster-token',
        this.#token,
        '--heartbeat-interval',
        '50',
        '--election-timeout',
        '500',
      ],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    const p = m.process;
    started.add(p);
    p.once('exit', () => started.delete(p));
  }

  /** Starts every member as a new cluster and waits until all are healthy. */
  async start(): Promise<void> {
    for (const m of this.members) await assertFree(m.clientUrl);
    for (const m of this.members) this.#spawn(m, 'new', this.members);
    await Promise.all(this.members.map((m) => waitHealthy(m.clientUrl, 20_000, m.process)));
  }

  /** A member that is not started yet, to be added with the members API first. */
  newMember(): LocalMember {
    const m = this.#member(this.members.length + 1);
    this.members.push(m);
    return m;
  }

  /** Starts a member that was added to the cluster (`--initial-cluster-state existing`). */
  async join(m: LocalMember, current: LocalMember[]): Promise<void> {
    await assertFree(m.clientUrl);
    this.#spawn(m, 'existing', current);
    await waitHealthy(m.clientUrl, 20_000, m.process);
  }

  /** Stops one member (SIGKILL) and waits for it to be gone. */
  async stop(m: LocalMember): Promise<void> {
    const p = m.process;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await exited;
  }

  /** Waits for a member's process to exit by itself (a removed member does). */
  async waitExit(m: LocalMember, timeoutMs = 15_000): Promise<boolean> {
    const p = m.process;
    if (!p || p.exitCode !== null || p.signalCode !== null) return true;
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      p.once('exit', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /** Restarts a stopped member with its data. */
  async restart(m: LocalMember): Promise<void> {
    this.#spawn(
      m,
      'existing',
      this.members.filter((x) => x.process !== undefined || x === m),
    );
    await waitHealthy(m.clientUrl);
  }

  /** Kills every member and removes the data. */
  async destroy(): Promise<void> {
    for (const m of this.members) await this.stop(m);
    rmSync(this.#root, { recursive: true, force: true });
  }
}

/**
 * A real cluster for one test file: started before its tests (beforeAll), destroyed after
 * them (afterAll). `local.etcd` is a client of every member; `local.cluster` controls them.
 */
export function useLocalCluster(
  subnet: number,
  size: number,
): { readonly cluster: LocalEtcdCluster; readonly etcd: EtcdClient } {
  const local = {} as { cluster: LocalEtcdCluster; etcd: EtcdClient };
  beforeAll(async () => {
    local.cluster = new LocalEtcdCluster(subnet, size);
    await local.cluster.start();
    local.etcd = new EtcdClient({
      endpoints: local.cluster.clientUrls.map((url) => ({ url })),
      timeoutMs: 5000,
    });
  }, 60_000);
  afterAll(async () => {
    local.etcd?.close();
    await local.cluster?.destroy();
  });
  return local;
}
