import { afterAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeProxyMode } from '../../src/actions/proxy.js';
import { unitState } from '../../src/actions/remote.js';
import { observeRRset } from '../../src/dns/index.js';
import { labEnv } from '../integration/actions/harness.js';
import { labConfig, labConfigPath } from '../integration/lab.js';
import { runCli } from '../support/cli.js';
import { checkCaughtUp } from '../../src/actions/replication.js';
import { remoteOf } from '../../src/actions/remote.js';
import { runLockManager } from '../../src/etcd/index.js';
import { clearLiveKeys, LiveWatcher, LiveWriter, lostWrites } from '../../src/lab/live-clients.js';
import { argvCommand } from '../../src/ssh/command.js';

const config = labConfig();
const env = labEnv(config);
afterAll(() => env.close());
const cli = (args: string[]) => runCli(args, { GALLEY_CONFIG: labConfigPath() });
const conftool = config.replication!.rwSrvRecord;

async function sh(host: string, ...argv: string[]) {
  const r = (await remoteOf(env).executor.execute([host], argvCommand(argv))).results[0]!;
  if (r.exitCode !== 0)
    throw new Error(`${host}: ${argv.join(' ')} exited ${r.exitCode}: ${r.stderr}${r.error ?? ''}`);
}

/** What a switchover changes, as seen from outside. */
async function world() {
  const srv = await observeRRset(config, conftool, 'SRV');
  const modes = async (dc: 'eqiad' | 'codfw') =>
    [
      ...new Set(await Promise.all(config.etcd.clusters[dc]!.members.map((h) => probeProxyMode(env, dc, h)))),
    ].join(',');
  const mirror = (dc: 'eqiad' | 'codfw') =>
    unitState(env, config.replication!.mirrors[dc]!.host, config.replication!.mirrors[dc]!.unit);
  return {
    eqiad: await modes('eqiad'),
    codfw: await modes('codfw'),
    mirrorIntoEqiad: await mirror('eqiad'),
    mirrorIntoCodfw: await mirror('codfw'),
    conftool: srv.servers.map((s) =>
      (s.records ?? [])
        .map((r) => `${r.ttl} ${typeof r.data === 'object' && 'target' in r.data ? r.data.target : ''}`)
        .join(','),
    ),
  };
}

const codfwMaster = {
  eqiad: 'read-only',
  codfw: 'read-write',
  mirrorIntoEqiad: 'active',
  mirrorIntoCodfw: 'inactive',
  conftool: Array(2).fill('300 conf2004.codfw.wmnet,300 conf2005.codfw.wmnet,300 conf2006.codfw.wmnet'),
};

describe('cookbook etcd.switchover against the lab', () => {
  test('the lab starts with codfw as the master', async () => {
    expect(await world()).toEqual(codfwMaster);
  });

  test('a dry-run with --plan-out changes nothing and writes a plan a reviewer can read', async () => {
    const plan = join(mkdtempSync(join(tmpdir(), 'galley-plan-')), 'switch');
    const r = cli(['etcd.switchover', '--from', 'codfw', '--to', 'eqiad', '--plan-out', plan]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('conf2004.codfw.wmnet proxy: read-write → read-only');
    expect(r.stdout).toMatch(/codfw:\/__replication\/__ROOT__: (absent|"\d+"|\d+) → eqiad's etcd index/);
    expect(await world()).toEqual(codfwMaster);
  });

  test('--from and --to must differ, and must be datacenters (exit 2, nothing changed)', () => {
    expect(cli(['etcd.switchover', '--from', 'codfw', '--to', 'codfw', '-y']).stderr).toContain(
      '--from and --to are both codfw',
    );
    const r = cli(['etcd.switchover', '--from', 'codfw', '--to', 'esams', '-y']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown datacenter "esams"');
  });

  test('Ctrl-C in the read-only window rolls every step back (exit 97)', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--no-warnings',
        'bin/dev.js',
        'etcd.switchover',
        '--from',
        'codfw',
        '--to',
        'eqiad',
        '-y',
      ],
      {
        env: {
          ...process.env,
          NODE_OPTIONS: '',
          GALLEY_CONFIG: labConfigPath(),
          GALLEY_STATE_DIR: mkdtempSync(join(tmpdir(), 'galley-sw-')),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!sent && /\[\d+\/\d+\] Point /.test(out)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(out).toContain('rollback complete');
    expect(code).toBe(97);
    expect(await world()).toEqual(codfwMaster);
  }, 120_000);

  test('a refusal before any change says so: the mirror into eqiad stopped, nothing was changed (exit 1)', async () => {
    const m = config.replication!.mirrors.eqiad!;
    await sh(m.host, 'systemctl', 'stop', m.unit);
    try {
      const r = cli(['etcd.switchover', '--from', 'codfw', '--to', 'eqiad', '-y']);
      expect(r.code).toBe(1);
      expect(r.stdout + r.stderr).toContain(
        `${m.unit} on ${m.host} is inactive: replication codfw → eqiad is not running: nothing was changed`,
      );
    } finally {
      await sh(m.host, 'systemctl', 'start', m.unit);
    }
    expect(await world()).toEqual(codfwMaster);
  }, 120_000);

  test('with one codfw member down, codfw → eqiad switches the live proxies, names the dead one, and loses no write of the live clients', async () => {
    const writer = new LiveWriter(config, 'member-down', { reresolve: 'on-refusal', intervalMs: 40 }).start();
    await sh('conf2006.codfw.wmnet', 'systemctl', 'stop', 'etcd');
    let there: ReturnType<typeof cli>;
    try {
      there = cli(['etcd.switchover', '--from', 'codfw', '--to', 'eqiad', '-y']);
    } finally {
      await sh('conf2006.codfw.wmnet', 'systemctl', 'start', 'etcd');
    }
    const rec = await writer.stop();
    expect(there.stdout).toContain('conf2006.codfw.wmnet DOWN (quorum holds)');
    expect(there.stdout + there.stderr).toContain('etcd on conf2006.codfw.wmnet does not answer');
    expect(there.code).toBe(0);
    expect(rec.acks.length).toBeGreaterThan(0);
    expect(await lostWrites(config, 'eqiad', rec.acks)).toEqual([]);
    const back = cli(['etcd.switchover', '--from', 'eqiad', '--to', 'codfw', '-y']);
    expect(back.code).toBe(0);
    await clearLiveKeys(config, 'codfw');
    expect(await world()).toEqual(codfwMaster);
  }, 300_000);

  test('a switchover to eqiad and back leaves each side as the runbook says, writes flowing the new way, no acknowledged write lost', async () => {
    const writers = [
      new LiveWriter(config, 'reresolve', { reresolve: 'on-refusal', intervalMs: 20 }).start(),
      new LiveWriter(config, 'strict-ttl', { reresolve: 'ttl', intervalMs: 40 }).start(),
    ];
    const watcher = new LiveWatcher(config, 'eqiad').start();
    const there = cli([
      'etcd.switchover',
      '--from',
      'codfw',
      '--to',
      'eqiad',
      '-y',
      '-t',
      'T358636',
      '-r',
      'test',
    ]);
    expect(there.stdout).toContain('✓ etcd.switchover done');
    expect(there.code).toBe(0);
    expect(there.stdout).toContain('a write through eqiad reached codfw');
    expect(await world()).toEqual({
      eqiad: 'read-write',
      codfw: 'read-only',
      mirrorIntoEqiad: 'inactive',
      mirrorIntoCodfw: 'active',
      conftool: Array(2).fill('300 conf1007.eqiad.wmnet,300 conf1008.eqiad.wmnet,300 conf1009.eqiad.wmnet'),
    });
    const back = cli(['etcd.switchover', '--from', 'eqiad', '--to', 'codfw', '-y']);
    expect(back.stdout).toContain('✓ etcd.switchover done');
    expect(back.code).toBe(0);
    expect(back.stdout).toContain('a write through codfw reached eqiad');
    expect(await world()).toEqual(codfwMaster);
    const records = await Promise.all(writers.map((w) => w.stop()));
    const seen = await watcher.stop();
    const acks = records.flatMap((r) => r.acks);
    expect(records[0]!.acks.some((a) => a.dc === 'eqiad')).toBe(true);
    expect(await lostWrites(config, 'codfw', acks)).toEqual([]);
    await checkCaughtUp(env, 'codfw', 'eqiad', 30_000);
    expect(await lostWrites(config, 'eqiad', acks)).toEqual([]);
    expect(acks.filter((a) => !seen.has(a.key))).toEqual([]);
    await clearLiveKeys(config, 'codfw');
  }, 300_000);

  test('two switchovers started at once, in opposite directions, never both run: one lock in both clusters', async () => {
    const locks = runLockManager(config, env);
    const held = await locks.acquire({
      name: 'etcd.conftool-master',
      owner: 'alice@cumin1001 [4242]',
      runId: 'other-run',
      ttlMs: 60_000,
    });
    try {
      for (const [from, to] of [
        ['codfw', 'eqiad'],
        ['eqiad', 'codfw'],
      ]) {
        const r = cli(['etcd.switchover', '--from', from!, '--to', to!, '-y']);
        expect(r.code).toBe(1);
        expect(r.stdout + r.stderr).toContain('lock etcd.conftool-master is held by alice@cumin1001 [4242]');
        expect(r.stdout + r.stderr).toMatch(/it expires at \d{4}-\d\d-\d\dT/);
      }
    } finally {
      await held.release();
    }
    expect(await world()).toEqual(codfwMaster);
  }, 120_000);
});
