import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EtcdClient, EtcdKeyNotFoundError, etcdClientForUrl } from '../../../src/etcd/index.js';
import { readSnapshot } from '../../../src/mirror/snapshot.js';
import type { NodeState } from '../../../src/mirror/write-plan.js';

/** Waits until `check` returns true, polling, or throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 15_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A real single-member etcd 3.4 with the v2 API, started for a test. */
export interface TestEtcd {
  url: string;
  client: EtcdClient;
  stop(): Promise<void>;
  /** Stops it, waits `downMs`, and starts it again on the same data. */
  restart(downMs: number): Promise<void>;
}

async function startEtcd(ip: string, dir: string): Promise<TestEtcd> {
  const name = `m${ip.replace(/\./g, '-')}`;
  const url = `http://${ip}:2379`;
  const client = etcdClientForUrl(url, { timeoutMs: 10_000 });
  const launch = async (): Promise<ChildProcess> => {
    const proc = spawn(
      'etcd',
      [
        '--enable-v2=true',
        '--name',
        name,
        '--data-dir',
        join(dir, name),
        '--listen-client-urls',
        url,
        '--advertise-client-urls',
        url,
        '--listen-peer-urls',
        `http://${ip}:2380`,
        '--initial-advertise-peer-urls',
        `http://${ip}:2380`,
        '--initial-cluster',
        `${name}=http://${ip}:2380`,
        '--log-level',
        'error',
      ],
      { stdio: 'ignore' },
    );
    await waitFor(`etcd on ${ip}`, async () => {
      // an etcd that exits at once could not bind: never talk to someone else's server instead
      if (proc.exitCode !== null)
        throw new Error(`etcd on ${ip} exited with ${proc.exitCode} (address in use?)`);
      try {
        await client.get('/');
        return true;
      } catch {
        return false;
      }
    });
    return proc;
  };
  let proc = await launch();
  const kill = async (): Promise<void> => {
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  };
  return {
    url,
    client,
    stop: async () => {
      client.close();
      await kill();
    },
    restart: async (downMs) => {
      await kill();
      await new Promise((r) => setTimeout(r, downMs));
      proc = await launch();
    },
  };
}

function isPortFree(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, ip, () => server.close(() => resolve(true)));
  });
}

/** A test etcd pair and the subnet it lives in (`<subnet>.3` is free for the mirror's endpoint). */
export interface EtcdPair {
  subnet: string;
  src: TestEtcd;
  dst: TestEtcd;
  stop(): Promise<void>;
}

/**
 * Two etcd clusters in the mirror's range: 127.33.<n>.1 (source) and .2 (destination), or, when
 * another run holds those addresses, 127.33.<n+20k>.x.
 */
export async function startEtcdPair(n: number): Promise<EtcdPair> {
  let subnet: string | undefined;
  for (let k = 0; k < 12 && !subnet; k++) {
    const candidate = `127.33.${n + 20 * k}`;
    const free = await Promise.all(
      [1, 2].flatMap((h) => [2379, 2380].map((p) => isPortFree(`${candidate}.${h}`, p))),
    );
    if (free.every(Boolean)) subnet = candidate;
  }
  if (!subnet) throw new Error(`no free address pair for test etcd clusters near 127.33.${n}`);
  const dir = mkdtempSync(join(tmpdir(), 'galley-mirror-test-'));
  const src = await startEtcd(`${subnet}.1`, dir);
  const dst = await startEtcd(`${subnet}.2`, dir);
  return {
    subnet,
    src,
    dst,
    stop: async () => {
      await Promise.all([src.stop(), dst.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An etcdmirror process run from bin/etcdmirror.js. */
export interface MirrorProcess {
  proc: ChildProcess;
  /** Everything it wrote on stderr so far. */
  log(): string;
  /** Resolves with the exit code, once its output has been read to the end. */
  exited: Promise<number | null>;
}

/** Starts etcdmirror with arguments, as an operator would. */
export function startMirror(args: string[]): MirrorProcess {
  const proc = spawn(process.execPath, [join(process.cwd(), 'bin', 'etcdmirror.js'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '', GALLEY_MIRROR_FROM_SOURCE: '1' },
  });
  let text = '';
  proc.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  proc.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  // 'close', not 'exit': by then everything it wrote has been read (its last lines included)
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  return { proc, log: () => text, exited };
}

/** Runs etcdmirror to its end and returns its exit code and output. */
export async function runMirrorToEnd(
  args: string[],
  timeoutMs = 30_000,
): Promise<{ code: number | null; log: string }> {
  const m = startMirror(args);
  const timer = setTimeout(() => m.proc.kill('SIGKILL'), timeoutMs);
  const code = await m.exited;
  clearTimeout(timer);
  return { code, log: m.log() };
}

/** Stops a mirror with SIGTERM and returns its exit code. */
export async function stopMirror(m: MirrorProcess): Promise<number | null> {
  if (m.proc.exitCode === null && m.proc.signalCode === null) m.proc.kill('SIGTERM');
  return m.exited;
}

/**
 * PUTs, POSTs or DELETEs a key with etcd's own parameters (value, dir, ttl, prevValue,
 * prevExist, recursive) and returns the etcd index of the write.
 */
export async function write(
  client: EtcdClient,
  method: 'PUT' | 'DELETE' | 'POST',
  key: string,
  params: Record<string, string> = {},
): Promise<number> {
  const ttlSeconds = params.ttl === undefined ? undefined : Number(params.ttl);
  const prevExist = params.prevExist === undefined ? undefined : params.prevExist === 'true';
  const r =
    method === 'POST'
      ? await client.createInOrder(key, params.value ?? '', { ttlSeconds })
      : method === 'DELETE'
        ? await client.delete(key, {
            recursive: params.recursive === 'true',
            dir: params.dir === 'true' || undefined,
            prevValue: params.prevValue,
          })
        : params.dir === 'true'
          ? await client.mkdir(key, { ttlSeconds })
          : await client.set(key, params.value ?? '', { ttlSeconds, prevValue: params.prevValue, prevExist });
  return r.node.modifiedIndex;
}

/** The value of a key, or undefined. */
export async function valueOf(client: EtcdClient, key: string): Promise<string | undefined> {
  try {
    return (await client.get(key)).node.value;
  } catch (e) {
    if (e instanceof EtcdKeyNotFoundError) return undefined;
    throw e;
  }
}

/** The recorded replication index, or 0. */
export async function recordedIndex(dst: EtcdClient, indexKey = '/__replication/__ROOT__'): Promise<number> {
  return Number((await valueOf(dst, indexKey)) ?? 0);
}

/** A subtree below a prefix as sorted [key, state] pairs, keys relative to the prefix (the prefix itself left out). */
export async function tree(client: EtcdClient, prefix: string): Promise<[string, NodeState][]> {
  const s = await readSnapshot(client, prefix);
  const cut = prefix === '/' ? 0 : prefix.length;
  return [...s.nodes]
    .filter(([k]) => k !== prefix)
    .map(([k, v]): [string, NodeState] => [k.slice(cut), v])
    .sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

/** The source's current etcd index. */
export async function currentIndex(client: EtcdClient): Promise<number> {
  return (await client.get('/')).etcdIndex ?? 0;
}

/** Fetches a path from the mirror's HTTP endpoint. */
export async function httpGet(url: string): Promise<{ status: number; text: string }> {
  const r = await fetch(url);
  return { status: r.status, text: await r.text() };
}
