/**
 * The environment files the lab writes for the CLI (the format of src/config/schema.ts):
 * one with the `wmnet` zone on gdnsd (zone files + authdns-update), one on knot (RFC 2136).
 */
import { stringify } from 'yaml';
import { TSIG_KEY_NAME, ETCD_USER } from './credentials.js';
import { join } from 'node:path';
import { repoRoot, type LabLayout } from './layout.js';
import {
  ETCD_UNIT,
  READ_ONLY_CONTENT,
  READ_ONLY_SWITCH_FILE,
  READ_WRITE_CONTENT,
  RW_SRV_RECORD,
  ZONE_SOURCE_FILE,
  clientPaths,
  etcdDataDir,
  spareDataDir,
  srvRecordOf,
  IGNORE_KEYS_REGEX,
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
/** Where every run's journal is shared between operator hosts (in every cluster, like the locks). */
export const RUNS_PREFIX = '/galley/runs';
/** Keys the lab never replicates (defined beside the mirror unit that is given them). */
export { IGNORE_KEYS_REGEX };

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
  const clients: Record<string, unknown> = {};
  for (const c of t.clients) {
    const p = clientPaths(c);
    clients[c.host.name] = {
      kind: c.etcdHost ? 'configured' : 'srv',
      datacenter: c.host.datacenter,
      unit: c.unit,
      status_file: p.status,
      restart_command: ['systemctl', 'restart', c.unit],
      ...(c.etcdHost ? { repoint_command: [p.repoint] } : {}),
    };
  }
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
      // What the lab's reimage publishes (as production tooling publishes known hosts).
      host_key_source: layout.publishedKnownHostsFile,
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
    // The clients of etcd on their own hosts (src/lab/assets/etcd-client.mjs): the runbook's
    // restarts in batches of 50 with 20 s between them (`-b 50 -s 20`), scaled to the lab.
    clients: {
      restart_batch_size: 1,
      restart_batch_sleep: '1s',
      drain_timeout: '10s',
      hosts: clients,
    },
    // `cookbook lab reimage HOST` stands in for the site's reimage cookbook (the host is appended).
    reimage: {
      command: [process.execPath, join(repoRoot(), 'bin', 'run.js'), 'lab', 'reimage', '--dir', layout.dir],
      timeout: '2m',
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
    // Every run's journal is shared between the operator hosts (cookbook lab operator), in
    // every cluster; a short heartbeat so that a host that died is taken over quickly.
    runs: { shared: true, prefix: RUNS_PREFIX, keep: '30d', heartbeat_ttl: '10s', request_timeout: '2s' },
  };
}

/** The environment file of one of the lab's operator hosts: the lab's, with its own state directory and audit log. */
export function renderOperatorEnvironmentFile(
  t: LabTopology,
  layout: LabLayout,
  host: string,
  stateDir: string,
): string {
  const header = `# Galley lab environment of the operator host ${host} (written by \`cookbook lab up\`; base ${t.base}).\n# Run the CLI as this host: cookbook lab operator ${host} -- ARGS…\n`;
  const env = {
    ...labEnvironment(t, layout, 'zonefile'),
    state_dir: stateDir,
    audit_log: `${stateDir}/audit.log`,
  };
  return header + stringify(env, { lineWidth: 0 });
}

/** The environment file's text, with a header saying where it comes from. */
export function renderEnvironmentFile(t: LabTopology, layout: LabLayout, backend: ZoneBackendKind): string {
  const header = `# Galley lab environment (written by \`cookbook lab up\`; base ${t.base}, state ${layout.dir}).\n# Zone backend: ${backend}.\n`;
  return header + stringify(labEnvironment(t, layout, backend), { lineWidth: 0 });
}
