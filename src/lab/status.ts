/**
 * `lab status`: the lab's facts (config path, hosts, URLs, DNS servers, credential files)
 * and which of its processes are up.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TSIG_KEY_NAME, ETCD_USER } from './credentials.js';
import { knotProcess } from './down.js';
import { LabLayout, benchGroupNames } from './layout.js';
import { isRunning, readPidFile } from './processes.js';
import { MONITORING_COMPONENTS, monitoringProcess, monitoringUrls } from './monitoring.js';
import { readLabState } from './state.js';
import {
  ETCD_CLIENT_PORT,
  PROXY_PORT,
  allHosts,
  labTopology,
  namespacedHosts,
  spareHosts,
} from './topology.js';

export interface LabProcessStatus {
  host: string;
  unit: string;
  pid?: number;
  running: boolean;
}

export interface LabStatusReport {
  dir: string;
  base: string;
  /** True when every expected process runs. */
  up: boolean;
  startedAt?: string;
  config: string;
  configRfc2136: string;
  hosts: { name: string; datacenter: string; role: string; address: string }[];
  etcd: Record<string, { clientUrls: string[]; proxyUrls: string[]; srvRecord: string }>;
  dns: {
    authdns: { name: string; address: string; port: number }[];
    knot: { name: string; address: string; port: number };
    zones: string[];
  };
  credentials: {
    caFile: string;
    username: string;
    passwordFile: string;
    sshKey: string;
    knownHosts: string;
    tsigKeyName: string;
    tsigSecretFile: string;
  };
  /** Prometheus, Alertmanager and the IRC server (irc://ADDRESS:PORT/#channel). */
  monitoring: { prometheus: string; alertmanager: string; irc: string };
  processes: LabProcessStatus[];
}

/** Units whose PID file exists in a host (started at some point). */
function unitsOf(hostDir: string): string[] {
  const dir = join(hostDir, 'run', 'lab-units');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.pid'))
    .map((f) => f.slice(0, -4));
}

/** Reports the lab in `dir` (its base comes from the lab's own state, else from `base`). */
export function labStatus(o: { dir: string; base: string }): LabStatusReport {
  const layout = new LabLayout(o.dir);
  const state = readLabState(layout);
  const t = labTopology(state?.base ?? o.base, state?.benchHosts ?? 50);
  const processes: LabProcessStatus[] = [];
  const expected = ['etcd', 'nginx'];
  for (const h of [...namespacedHosts(t).map((x) => x.name), ...benchGroupNames(t.bench.length)]) {
    const dir = layout.hostDir(h);
    const sshd = readPidFile(join(dir, 'run', 'sshd.pid'));
    processes.push({ host: h, unit: 'ssh', pid: sshd, running: isRunning(sshd) });
    const role = allHosts(t).find((x) => x.name === h)?.role;
    const units = new Set([
      ...unitsOf(dir),
      ...(role === 'etcd' ? expected : role === 'authdns' ? ['gdnsd'] : []),
    ]);
    for (const u of units) {
      const pid = readPidFile(join(dir, 'run', 'lab-units', `${u}.pid`));
      processes.push({ host: h, unit: u, pid, running: isRunning(pid) });
    }
  }
  const knot = knotProcess(layout);
  processes.push({ host: t.knot.name, unit: 'knot', pid: knot?.pid, running: knot !== undefined });
  for (const c of MONITORING_COMPONENTS) {
    const p = monitoringProcess(layout, c);
    processes.push({ host: 'monitoring', unit: c, pid: p?.pid, running: p !== undefined });
  }
  const mirrorUnits = new Set(t.mirrors.map((m) => m.unit));
  // The spare cluster's etcd runs only once etcd.bootstrap built it: its units do not count.
  const spare = new Set(spareHosts(t).map((h) => h.name));
  const up =
    state !== undefined &&
    processes.every((p) => p.running || mirrorUnits.has(p.unit) || (spare.has(p.host) && p.unit !== 'ssh'));
  const etcd: LabStatusReport['etcd'] = {};
  for (const c of t.clusters) {
    etcd[c.datacenter] = {
      clientUrls: c.members.map((m) => `http://${m.address}:${ETCD_CLIENT_PORT}`),
      proxyUrls: c.members.map((m) => `https://${m.address}:${PROXY_PORT}`),
      srvRecord: `_etcd._tcp.${c.datacenter}.wmnet`,
    };
  }
  return {
    dir: layout.dir,
    base: t.base,
    up,
    startedAt: state?.startedAt,
    config: layout.configFile,
    configRfc2136: layout.rfc2136ConfigFile,
    hosts: allHosts(t).map((h) => ({
      name: h.name,
      datacenter: h.datacenter,
      role: h.role,
      address: h.address,
    })),
    etcd,
    dns: {
      authdns: t.authdns.map((h) => ({ name: h.name, address: h.address, port: 53 })),
      knot: t.knot,
      zones: ['wmnet'],
    },
    credentials: {
      caFile: layout.caFile,
      username: ETCD_USER,
      passwordFile: layout.passwordFile,
      sshKey: layout.sshKeyFile,
      knownHosts: layout.knownHostsFile,
      tsigKeyName: TSIG_KEY_NAME,
      tsigSecretFile: layout.tsigSecretFile,
    },
    monitoring: monitoringUrls(t),
    processes,
  };
}
