import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { parse, stringify } from 'yaml';
import { remoteOf } from '../../../src/actions/remote.js';
import { loadConfig } from '../../../src/config/load.js';
import type { ActionEnv } from '../../../src/core/action.js';
import { safeCmd } from '../../../src/ssh/command.js';
import { openRemote } from '../../../src/ssh/remote.js';
import { runCli } from '../../support/cli.js';
import { labConfig, labConfigPath } from '../lab.js';

/**
 * Faults at the edge of the test lab, on addresses of its range that no lab host uses
 * (BASE.200.x): a listener that accepts TCP and never speaks SSH, an address where nothing
 * listens, and one that starts listening (a TCP relay to a bench host's sshd) only after the
 * first attempt was refused. The environment file is the lab's plus these hosts, with a short
 * connect timeout.
 */
const base = process.env.GALLEY_TEST_LAB_BASE ?? '127.21';
const SILENT = { name: 'silent.lab.wmnet', address: `${base}.200.1` };
const REFUSED = { name: 'refused.lab.wmnet', address: `${base}.200.2` };
const LATE = { name: 'late.lab.wmnet', address: `${base}.200.3` };

let dir: string;
let configFile: string;
let silent: Server;
const held: Socket[] = [];

function listen(server: Server, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(22, address, () => resolve());
  });
}

function close(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => (server?.listening ? server.close(() => resolve()) : resolve()));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'galley-fanout-it-'));
  const lab = parse(readFileSync(labConfigPath(), 'utf8')) as {
    hosts: Record<string, unknown>;
    ssh: Record<string, unknown>;
  };
  const benchKey = readFileSync(String(lab.ssh.known_hosts), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('bench001.lab.wmnet,'))!
    .split(' ')
    .slice(1)
    .join(' ');
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(
    knownHosts,
    readFileSync(String(lab.ssh.known_hosts), 'utf8') +
      [SILENT, REFUSED, LATE].map((h) => `${h.name},${h.address} ${benchKey}\n`).join(''),
  );
  for (const h of [SILENT, REFUSED, LATE]) lab.hosts[h.name] = { address: h.address, datacenter: 'eqiad' };
  lab.ssh = { ...lab.ssh, known_hosts: knownHosts, connect_timeout: '3s' };
  configFile = join(dir, 'galley.yaml');
  writeFileSync(configFile, stringify(lab));
  // Accepts every connection and never says a word.
  silent = createServer((sock) => {
    held.push(sock);
    sock.on('error', () => undefined);
  });
  await listen(silent, SILENT.address);
});

afterAll(async () => {
  for (const s of held) s.destroy();
  await close(silent);
  rmSync(dir, { recursive: true, force: true });
});

describe('fan-out faults', () => {
  test('a host that accepts TCP and never speaks SSH is named, within its own timeout, while the others finish', () => {
    const r = runCli(['exec', `${SILENT.name},bench[001-010].lab.wmnet`, '--json', '--', 'true'], {
      GALLEY_CONFIG: configFile,
    });
    expect(r.code).toBe(1);
    const json = JSON.parse(r.stdout) as {
      results: { host: string; exitCode: number | null; error?: string }[];
    };
    const bench = json.results.filter((x) => x.host.startsWith('bench'));
    expect(bench.map((x) => [x.exitCode, x.error])).toEqual(Array.from({ length: 10 }, () => [0, undefined]));
    expect(json.results.find((x) => x.host === SILENT.name)?.error).toBe(
      `cannot connect to ${SILENT.name} (${SILENT.address}:22): timed out after 3s waiting for the SSH server's greeting (TCP connected, the server never spoke)`,
    );
    expect(r.stdout).not.toContain('attempts'); // a silent host is not retried: one timeout, then reported
  }, 120_000);

  test('a refused connection is retried with backoff, then reported with its attempts', async () => {
    const remote = openRemote(loadConfig(configFile), { dryRun: false });
    try {
      const report = await remote.executor.execute([REFUSED.name], safeCmd`true`);
      expect(report.results[0]?.error).toMatch(
        new RegExp(
          `^cannot connect to ${REFUSED.name} \\(${REFUSED.address.replace(/\./g, '\\.')}:22\\): connection refused opening the TCP connection \\(4 attempts over \\d+\\.\\ds\\)$`,
        ),
      );
      expect(remote.pool.connectionsOpened).toBe(4);
    } finally {
      await remote.close();
    }
  }, 60_000);

  test('a host that refuses at first is reached once it listens', async () => {
    const remote = openRemote(loadConfig(configFile), { dryRun: false });
    const bench001 = labConfig().hosts['bench001.lab.wmnet']!.address;
    const relay = createServer((client) => {
      const upstream = connect(22, bench001);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    try {
      const pending = remote.executor.execute([LATE.name], safeCmd`echo reached`);
      // Listen only once the first attempt has been made (and refused: nothing listened yet).
      while (remote.pool.connectionsOpened < 1) await delay(5);
      await delay(20);
      await listen(relay, LATE.address);
      const report = await pending;
      expect(report.results.map((x) => [x.exitCode, x.stdout, x.error])).toEqual([
        [0, 'reached\n', undefined],
      ]);
      expect(remote.pool.connectionsOpened).toBeGreaterThanOrEqual(2);
    } finally {
      await remote.close();
      await close(relay);
    }
  }, 60_000);

  test('--fanout bounds the handshakes in flight on real hosts, and every host still succeeds', async () => {
    const remote = openRemote(labConfig(), { dryRun: false, fanout: 4 });
    try {
      const report = await remote.executor.execute(remote.hosts('bench[001-050].lab.wmnet'), safeCmd`true`);
      expect(report.successes).toBe(50);
      expect([remote.pool.window.peak, remote.pool.window.limit]).toEqual([4, 4]);
    } finally {
      await remote.close();
    }
  }, 120_000);

  test("the cookbook API's SSH steps go through the window of the environment file's ssh.fanout", async () => {
    const file = join(dir, 'fanout3.yaml');
    const raw = parse(readFileSync(labConfigPath(), 'utf8')) as { ssh: Record<string, unknown> };
    raw.ssh.fanout = 3;
    writeFileSync(file, stringify(raw));
    const config = loadConfig(file);
    const services = new Map<string, unknown>();
    const env = {
      config: () => config,
      service: <T>(key: string, create: () => T) => {
        if (!services.has(key)) services.set(key, create());
        return services.get(key) as T;
      },
      dryRun: false,
    } as unknown as ActionEnv;
    const remote = remoteOf(env);
    try {
      // Many one-host commands at once, as the actions of a step over many hosts send them.
      const hosts = remote.hosts('bench[001-020].lab.wmnet');
      const reports = await Promise.all(hosts.map((h) => remote.executor.execute([h], safeCmd`hostname`)));
      expect(reports.map((r) => r.results[0]?.exitCode)).toEqual(hosts.map(() => 0));
      expect([remote.pool.window.limit, remote.pool.window.peak, remote.pool.window.adaptive]).toEqual([
        3,
        3,
        undefined,
      ]);
    } finally {
      await remote.close();
    }
  }, 120_000);
});
