/**
 * The environment files the lab writes for the CLI (the format of src/config/schema.ts):
 * one with the `wmnet` zone on gdnsd (zone files + authdns-update), one on knot (RFC 2136).
 */
import { stringify } from 'yaml';
import { TSIG_KEY_NAME, ETCD_USER } from './credentials.js';
import type { LabLayout } from './layout.js';
import {
  ETCD_UNIT,
  READ_ONLY_CONTENT,
  READ_ONLY_SWITCH_FILE,
  READ_WRITE_CONTENT,
  RW_SRV_RECORD,
  ZONE_SOURCE_FILE,
  etcdDataDir,
  spareDataDir,
  srvRecordOf,
} from './render.js';
import { monitoringUrls } from './monitoring.js';
import {
  ETCD_CLIENT_PORT,
  ETCD_PEER_PORT,
  PROXY_PORT,
  allHosts,
  benchHostSet,
  type LabTopology,
} from './topology.js';

export type ZoneBackendKind = 'zonefile' | 'rfc2136';

/** Where the Runner's locks live (in the master cluster). */
export const LOCK_PREFIX = '/galley/locks';
/** Keys never replicated: spicerack's etcd lock state and the Runner's locks (etcdmirror's default too). */
export const IGNORE_KEYS_REGEX = '^/(spicerack/locks/etcd|galley/locks)(/|$)';

/** Where etcd.backup keeps backups on each member, and how many. */
export const BACKUP_DIR = '/srv/backup/etcd';
export const BACKUP_KEEP = 3;

function range(names: string[]): string {
  return names.join(',');
}

/** The raw (snake_case) environment document of the lab. */
export function labEnvironment(
  t: LabTopology,
  layout: LabLayout,
  backend: ZoneBackendKind,
): Record<string, unknown> {
  const hosts: Record<string, unknown> = {};
  for (const h of allHosts(t)) {
    hosts[h.name] = {
      address: h.address,
      datacenter: h.datacenter,
      roles: h.role === 'etcd' ? ['etcd', 'conf'] : h.role === 'spare' ? ['etcd'] : [h.role],
    };
  }
  const members = (dc: string) =>
    t.clusters.find((c) => c.datacenter === dc)?.members.map((m) => m.name) ?? [];
  const clusters: Record<string, unknown> = {};
  for (const c of t.clusters) {
    clusters[c.datacenter] = {
      datacenter: c.datacenter,
      members: members(c.datacenter),
      client_port: ETCD_CLIENT_PORT,
      client_scheme: 'http',
      peer_port: ETCD_PEER_PORT,
      proxy_port: PROXY_PORT,
      srv_record: srvRecordOf(c.datacenter),
      unit: ETCD_UNIT,
      data_dir: etcdDataDir(c.datacenter),
      env_file: '/etc/default/etcd',
      backup_dir: BACKUP_DIR,
      backup_keep: BACKUP_KEEP,
    };
  }
  // Defined, not started: etcd.bootstrap builds it (in_service: false keeps it out of etcd.status).
  for (const c of t.spareClusters) {
    clusters[c.name] = {
      datacenter: c.datacenter,
      members: c.members.map((m) => m.name),
      client_port: ETCD_CLIENT_PORT,
      client_scheme: 'http',
      peer_port: ETCD_PEER_PORT,
      proxy_port: PROXY_PORT,
      srv_record: c.srvRecord,
      unit: ETCD_UNIT,
      data_dir: spareDataDir(c),
      env_file: '/etc/default/etcd',
      backup_dir: BACKUP_DIR,
      backup_keep: BACKUP_KEEP,
      in_service: false,
    };
  }
  const mirrors: Record<string, unknown> = {};
  for (const m of t.mirrors) {
    mirrors[m.datacenter] = {
      host: m.host.name,
      unit: m.unit,
      metrics_url: `http://${m.host.address}:${m.metricsPort}/metrics`,
      reload_command: ['reload-etcdmirror'],
    };
  }
  const authdnsServers = t.authdns.map((h) => h.name);
  const knotServer = `${t.knot.address}:${t.knot.port}`;
  const zone =
    backend === 'zonefile'
      ? {
          servers: authdnsServers,
          backend: {
            type: 'zonefile',
            host: t.authdns[0]!.name,
            file: ZONE_SOURCE_FILE,
            publish_command: ['authdns-update'],
          },
        }
      : {
          servers: [knotServer],
          backend: {
            type: 'rfc2136',
            server: knotServer,
            tsig: { name: TSIG_KEY_NAME, algorithm: 'hmac-sha256', secret: { file: layout.tsigSecretFile } },
          },
        };
  const bench = t.bench.map((h) => h.name);
  const benchAlias = bench.length ? { bench: benchHostSet(bench.length) } : {};
  return {
    name: backend === 'zonefile' ? 'lab' : 'lab-rfc2136',
    state_dir: `${layout.dir}/galley`,
    audit_log: `${layout.dir}/galley/audit.log`,
    datacenters: t.datacenters,
    hosts,
    aliases: {
      'conf-eqiad': range(members('eqiad')),
      'conf-codfw': range(members('codfw')),
      conf: range([...members('eqiad'), ...members('codfw')]),
      ...Object.fromEntries(t.spareClusters.map((c) => [c.name, range(c.members.map((m) => m.name))])),
      authdns: range(authdnsServers),
      ...benchAlias,
    },
    ssh: {
      user: 'root',
      key_file: layout.sshKeyFile,
      known_hosts: layout.knownHostsFile,
      connect_timeout: '5s',
      command_timeout: '5m',
    },
    etcd: {
      ca_file: layout.caFile,
      credentials: { username: ETCD_USER, password: { file: layout.passwordFile } },
      lock_prefix: LOCK_PREFIX,
      request_timeout: '10s',
      clusters,
    },
    replication: {
      master: t.master,
      src_prefix: '/',
      dst_prefix: '/',
      ignore_keys_regex: IGNORE_KEYS_REGEX,
      mirrors,
      rw_srv_record: RW_SRV_RECORD,
      max_lag: 100,
      // The lab does not wait out a 300 s TTL: its live clients re-resolve after a refusal.
      ttl_wait_max: '2s',
    },
    proxy: {
      read_only_switch: {
        file: READ_ONLY_SWITCH_FILE,
        read_only_content: READ_ONLY_CONTENT,
        read_write_content: READ_WRITE_CONTENT,
        reload_command: ['nginx', '-s', 'reload'],
      },
    },
    dns: { timeout: '2s', retries: 2, zones: { wmnet: zone } },
    alerting: {
      alertmanager_url: monitoringUrls(t).alertmanager,
      prometheus_url: monitoringUrls(t).prometheus,
      request_timeout: '5s',
      silence_duration: '2h',
    },
    // Runs are announced in the lab's IRC channel (SAL format) besides the audit file; add
    // `syslog: {socket: /dev/log}` or `webhook: {url: …}` where a receiver listens.
    announce: {
      audit_file: true,
      irc: {
        server: t.monitoring.irc.address,
        port: t.monitoring.irc.port,
        channel: t.monitoring.irc.channel,
        nick: 'galley',
        timeout: '10s',
      },
      waiting_for_input_after: '5m',
    },
  };
}

/** The environment file's text, with a header saying where it comes from. */
export function renderEnvironmentFile(t: LabTopology, layout: LabLayout, backend: ZoneBackendKind): string {
  const header = `# Galley lab environment (written by \`cookbook lab up\`; base ${t.base}, state ${layout.dir}).\n# Zone backend: ${backend}.\n`;
  return header + stringify(labEnvironment(t, layout, backend), { lineWidth: 0 });
}
