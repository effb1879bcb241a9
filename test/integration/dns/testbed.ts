import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../../src/config/load.js';
import { parseConfig, type GalleyConfig } from '../../../src/config/schema.js';
import { query } from '../../../src/dns/query.js';
import { openRemote } from '../../../src/ssh/remote.js';
import type { RemoteRunner } from '../../../src/ssh/types.js';
import { LocalRunner } from './local-runner.js';

/**
 * Real DNS servers for the DNS integration tests: the test lab's (gdnsd on the authdns hosts
 * with authdns-update, and knot), or, when no test lab is configured, gdnsd ×2 and knot
 * started here on 127.31.0.x with the same layout (zone source file + a publish script that
 * checks the zone with `gdnsd checkconf` before copying it to both servers and reloading).
 */
export interface DnsTestBed {
  /** The environment whose zone uses the zonefile backend (gdnsd servers). */
  zonefile: GalleyConfig;
  /** The environment whose zone uses the rfc2136 backend (knot). */
  rfc2136: GalleyConfig;
  zone: string;
  /** An SRV record set that exists on the gdnsd servers, with its TTL. */
  existingSrv: string;
  /** Runs commands on the authdns host of the zonefile backend. */
  runner: RemoteRunner;
  /** An address in our range where no DNS server listens. */
  deadServer: { name: string; address: string; port: number };
  close(): Promise<void>;
}

const BASE = process.env.GALLEY_DNS_TEST_BASE ?? '127.31.0';
const TSIG_SECRET = 'z8Mvd6yJ9WZtXk2kQx3u2n7g0m5tS1bq4Yk3c8aH0pE=';

function zoneText(serial: number): string {
  return [
    '; wmnet zone of the DNS integration tests',
    '$TTL 3600',
    `@ 3600 IN SOA ns1.wmnet. hostmaster.wikimedia.org. ( ${serial} 43200 7200 1209600 300 )`,
    '@ 86400 IN NS ns1.wmnet.',
    '@ 86400 IN NS ns2.wmnet.',
    `ns1.wmnet. 3600 IN A ${BASE}.1`,
    `ns2.wmnet. 3600 IN A ${BASE}.2`,
    'conf1001.eqiad.wmnet. 3600 IN A 127.31.1.1',
    'conf1002.eqiad.wmnet. 3600 IN A 127.31.1.2',
    '_etcd._tcp.eqiad.wmnet. 300 IN SRV 0 1 4001 conf1001.eqiad.wmnet.',
    '_etcd._tcp.eqiad.wmnet. 300 IN SRV 0 1 4001 conf1002.eqiad.wmnet.',
    '',
  ].join('\n');
}

async function waitForSoa(address: string, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      await query({ name: what, address, port: 53 }, 'wmnet', 'SOA', { timeoutMs: 200, retries: 0 });
      return;
    } catch (e) {
      if (Date.now() > end) throw new Error(`${what} on ${address} does not answer: ${(e as Error).message}`);
      await sleep(100);
    }
  }
}

function config(raw: Record<string, unknown>, file: string): GalleyConfig {
  const { config: c, problems } = parseConfig(raw, file);
  if (!c) throw new Error(`test config is invalid: ${problems.join('; ')}`);
  return c;
}

async function startOwnServers(): Promise<DnsTestBed> {
  const dir = mkdtempSync(join(tmpdir(), 'galley-dns-it-'));
  const children: ChildProcess[] = [];
  const source = join(dir, 'source', 'zones', 'wmnet');
  mkdirSync(dirname(source), { recursive: true });
  writeFileSync(source, zoneText(2026010100));
  for (const [i, g] of ['g1', 'g2'].entries()) {
    for (const sub of ['zones', 'run', 'state']) mkdirSync(join(dir, g, sub), { recursive: true });
    writeFileSync(
      join(dir, g, 'config'),
      `options => {\n  listen => [ ${BASE}.${i + 1}:53 ]\n  run_dir => ${dir}/${g}/run\n  state_dir => ${dir}/${g}/state\n}\n`,
    );
    writeFileSync(join(dir, g, 'zones', 'wmnet'), zoneText(2026010100));
    children.push(spawn('gdnsd', ['-c', join(dir, g), 'start'], { stdio: 'ignore' }));
  }
  const publish = join(dir, 'authdns-update');
  writeFileSync(
    publish,
    `#!/bin/bash
# Test stand-in for authdns-update: check the source zones, then publish them to both gdnsd.
set -euo pipefail
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/zones" "$scratch/run" "$scratch/state"
printf 'options => { run_dir => %s/run\\n state_dir => %s/state }\\n' "$scratch" "$scratch" > "$scratch/config"
cp ${dir}/source/zones/* "$scratch/zones/"
if ! gdnsd -c "$scratch" checkconf > "$scratch/log" 2>&1; then echo "authdns-update: zones do not pass checkconf; nothing was published" >&2; cat "$scratch/log" >&2; exit 1; fi
for g in g1 g2; do cp ${dir}/source/zones/* ${dir}/$g/zones/; gdnsdctl -c ${dir}/$g reload-zones > /dev/null; done
`,
  );
  chmodSync(publish, 0o755);

  const knot = join(dir, 'knot');
  for (const sub of ['zones', 'run', 'db']) mkdirSync(join(knot, sub), { recursive: true });
  writeFileSync(join(knot, 'zones', 'wmnet.zone'), zoneText(1));
  writeFileSync(
    join(knot, 'knot.conf'),
    `server:\n  rundir: "${knot}/run"\n  listen: ${BASE}.3@53\ncontrol:\n  listen: "${knot}/run/knot.sock"\ndatabase:\n  storage: "${knot}/db"\nlog:\n  - target: stderr\n    any: notice\nkey:\n  - id: galley-test\n    algorithm: hmac-sha256\n    secret: ${TSIG_SECRET}\nacl:\n  - id: tsig-update\n    key: galley-test\n    action: update\ntemplate:\n  - id: default\n    storage: "${knot}/zones"\n    file: "%s.zone"\n    zonefile-sync: -1\n    journal-content: changes\nzone:\n  - domain: wmnet\n    acl: tsig-update\n`,
  );
  children.push(spawn('knotd', ['-c', join(knot, 'knot.conf')], { stdio: 'ignore' }));
  const secretFile = join(dir, 'tsig.secret');
  writeFileSync(secretFile, `${TSIG_SECRET}\n`);

  const close = async () => {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(
      children.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once('exit', r)))),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all([
      waitForSoa(`${BASE}.1`, 'gdnsd 1'),
      waitForSoa(`${BASE}.2`, 'gdnsd 2'),
      waitForSoa(`${BASE}.3`, 'knot'),
    ]);
  } catch (e) {
    await close();
    throw e;
  }
  const common = {
    datacenters: ['eqiad'],
    hosts: {
      ns1: { address: `${BASE}.1`, datacenter: 'eqiad', roles: ['authdns'] },
      ns2: { address: `${BASE}.2`, datacenter: 'eqiad', roles: ['authdns'] },
    },
    ssh: { key_file: '/nonexistent', known_hosts: '/nonexistent' },
    etcd: { clusters: {} },
  };
  return {
    zonefile: config(
      {
        ...common,
        dns: {
          timeout: '1s',
          retries: 1,
          zones: {
            wmnet: {
              servers: ['ns1', 'ns2'],
              backend: { type: 'zonefile', host: 'ns1', file: source, publish_command: [publish] },
            },
          },
        },
      },
      join(dir, 'zonefile.yaml'),
    ),
    rfc2136: config(
      {
        ...common,
        dns: {
          timeout: '1s',
          retries: 1,
          zones: {
            wmnet: {
              servers: [`${BASE}.3:53`],
              backend: {
                type: 'rfc2136',
                server: `${BASE}.3:53`,
                tsig: { name: 'galley-test', secret: { file: secretFile } },
              },
            },
          },
        },
      },
      join(dir, 'rfc2136.yaml'),
    ),
    zone: 'wmnet',
    existingSrv: '_etcd._tcp.eqiad.wmnet',
    runner: new LocalRunner(),
    deadServer: { name: 'dead', address: `${BASE}.250`, port: 53 },
    close,
  };
}

function labTestBed(configPath: string): DnsTestBed {
  const zonefile = loadConfig(configPath);
  const rfc2136 = loadConfig(join(dirname(configPath), 'galley-rfc2136.yaml'));
  const remote = openRemote(zonefile, { dryRun: false });
  const cluster = Object.values(zonefile.etcd.clusters)[0];
  const zone = Object.values(zonefile.dns?.zones ?? {})[0];
  if (!cluster || !zone) throw new Error(`${configPath} has no etcd cluster or no DNS zone`);
  const base = zonefile.hosts[zone.servers[0]!.name]?.address.split('.').slice(0, 2).join('.') ?? '127.0';
  return {
    zonefile,
    rfc2136,
    zone: zone.name,
    existingSrv: cluster.srvRecord,
    runner: remote.executor,
    deadServer: { name: 'dead', address: `${base}.255.250`, port: 53 },
    close: () => remote.close(),
  };
}

/** The DNS servers to test against: the test lab when the global setup brought one up, else our own. */
export async function openDnsTestBed(): Promise<DnsTestBed> {
  const labConfigPath = process.env.GALLEY_TEST_CONFIG;
  return labConfigPath ? labTestBed(labConfigPath) : startOwnServers();
}
