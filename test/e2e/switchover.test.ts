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

const config = labConfig();
const env = labEnv(config);
afterAll(() => env.close());
const cli = (args: string[]) => runCli(args, { GALLEY_CONFIG: labConfigPath() });
const conftool = config.replication!.rwSrvRecord;

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
      if (!sent && out.includes('[7/12]')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(out).toContain('rollback complete');
    expect(code).toBe(97);
    expect(await world()).toEqual(codfwMaster);
  }, 120_000);

  test('a switchover to eqiad and back leaves each side as the runbook says, writes flowing the new way', async () => {
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
  }, 180_000);
});
