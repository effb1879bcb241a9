/**
 * The text of every configuration file the lab writes: pure functions of the topology.
 */
import {
  DNS_PORT,
  ETCD_CLIENT_PORT,
  ETCD_PEER_PORT,
  PROXY_PORT,
  SSH_PORT,
  allHosts,
  clusterOf,
  initialCluster,
  type LabClient,
  type LabCluster,
  type LabHost,
  type LabSpareCluster,
  type LabMirrorUnit,
  type LabTopology,
} from './topology.js';

/** Where the proxy's read-only switch lives inside every conf host. */
export const READ_ONLY_SWITCH_FILE = '/etc/nginx/etcd-readonly.conf';
/** The etcd-style body of a write refused by a read-only proxy. */
export const READ_ONLY_BODY =
  '{"errorCode":107,"message":"This cluster is in read-only mode","cause":"","index":0}';
/** Content of the switch file that makes the proxy read-only (every method but GET/HEAD gets 403). */
export const READ_ONLY_CONTENT = `if ($request_method !~ "^(GET|HEAD)$") { return 403 '${READ_ONLY_BODY}'; }\n`;
export const READ_WRITE_CONTENT = '';
export const ZONE_SOURCE_FILE = '/srv/authdns/git/zones/wmnet';
export const ETCD_UNIT = 'etcd';
export const NGINX_UNIT = 'nginx';
export const GDNSD_UNIT = 'gdnsd';
export const SRV_TTL_SECONDS = 300;
export const RW_SRV_RECORD = '_etcd-client-ssl._tcp.conftool.wmnet';

export function srvRecordOf(dc: string): string {
  return `_etcd._tcp.${dc}.wmnet`;
}

/** ETCD_DATA_DIR of a member (under its own /var/lib/etcd). */
export function etcdDataDir(dc: string): string {
  return `/var/lib/etcd/${dc}.wmnet`;
}

/** ETCD_DATA_DIR of a member of a spare cluster (under its own /var/lib/etcd). */
export function spareDataDir(cluster: LabSpareCluster): string {
  return `/var/lib/etcd/${cluster.name}`;
}

/** The host's /etc/default/etcd, as in production (sourced by the etcd unit). */
export function renderEtcdDefault(t: LabTopology, host: LabHost): string {
  return etcdDefault(
    host,
    clusterOf(t, host.datacenter),
    etcdDataDir(host.datacenter),
    `etcd-${host.datacenter}-lab`,
  );
}

/**
 * /etc/default/etcd of a spare cluster's member, as configuration management writes it for a
 * cluster that is to be bootstrapped (every member listed, state new); etcd.bootstrap rewrites it.
 */
export function renderSpareEtcdDefault(cluster: LabSpareCluster, host: LabHost): string {
  return etcdDefault(host, cluster, spareDataDir(cluster), `etcd-${cluster.name}-lab`);
}

function etcdDefault(host: LabHost, c: LabCluster, dataDir: string, token: string): string {
  const lines: Record<string, string> = {
    ETCD_NAME: host.name,
    ETCD_DATA_DIR: dataDir,
    ETCD_INITIAL_CLUSTER: initialCluster(c),
    ETCD_INITIAL_CLUSTER_STATE: 'new',
    ETCD_INITIAL_CLUSTER_TOKEN: token,
    ETCD_INITIAL_ADVERTISE_PEER_URLS: `http://${host.address}:${ETCD_PEER_PORT}`,
    ETCD_LISTEN_PEER_URLS: `http://${host.address}:${ETCD_PEER_PORT}`,
    ETCD_LISTEN_CLIENT_URLS: `http://${host.address}:${ETCD_CLIENT_PORT}`,
    ETCD_ADVERTISE_CLIENT_URLS: `https://${host.name}:${PROXY_PORT}`,
    ETCD_ENABLE_V2: 'true',
    ETCD_SNAPSHOT_COUNT: '10000',
    ETCD_LOGGER: 'zap',
    ETCD_LOG_LEVEL: 'warn',
  };
  return Object.entries(lines)
    .map(([k, v]) => `${k}="${v}"`)
    .join('\n')
    .concat('\n');
}

function unitFile(fields: Record<string, string | undefined>): string {
  const body = Object.entries(fields)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  return `# Galley lab unit (read by the lab's systemctl stand-in)\n[Service]\n${body}\n`;
}

export function renderEtcdUnit(host: LabHost): string {
  return unitFile({
    Description: 'etcd - highly-available key value store',
    Type: 'notify',
    EnvironmentFile: '/etc/default/etcd',
    ExecStart: '/usr/bin/etcd',
    'X-LabReady': `curl -fsS -m 1 http://${host.address}:${ETCD_CLIENT_PORT}/health`,
    'X-LabLog': '/var/log/etcd/etcd.log',
    TimeoutStartSec: '60',
  });
}

export function renderNginxUnit(host: LabHost): string {
  return unitFile({
    Description: 'nginx - TLS and basic-auth proxy in front of etcd',
    Type: 'forking',
    PIDFile: '/run/nginx.pid',
    ExecStart: '/usr/sbin/nginx',
    ExecReload: '/usr/sbin/nginx -s reload',
    'X-LabReady': `curl -ks -m 1 -o /dev/null https://${host.address}:${PROXY_PORT}/`,
    'X-LabLog': '/var/log/nginx/nginx.log',
    TimeoutStartSec: '20',
  });
}

export function renderGdnsdUnit(host: LabHost): string {
  return unitFile({
    Description: 'gdnsd - authoritative DNS server',
    Type: 'simple',
    ExecStart: '/usr/sbin/gdnsd -c /etc/gdnsd start',
    ExecReload: '/usr/bin/gdnsdctl -c /etc/gdnsd reload-zones',
    'X-LabReady': `dig +short +time=1 +tries=1 @${host.address} -p ${DNS_PORT} wmnet SOA | grep -q .`,
    'X-LabLog': '/var/log/gdnsd.log',
    TimeoutStartSec: '20',
  });
}

/**
 * The etcdmirror unit: replicates the source datacenter's cluster (`/`) into this
 * host's cluster (`/`), through the local client URLs of every member of both (this host's
 * first): one member down does not stop replication.
 */
/**
 * Keys the lab never replicates: spicerack's locks (its writer lock, and lock_layout
 * spicerack), the Runner's locks and the shared run journals. In galley.yaml
 * (replication.ignore_keys_regex) and given to the lab's etcdmirror units.
 */
export const IGNORE_KEYS_REGEX = '^/(spicerack/locks|galley/locks|galley/runs)(/|$)';

function mirrorArgs(
  t: LabTopology,
  m: LabMirrorUnit,
  nodeBinary: string,
  etcdmirrorScript: string,
): string[] {
  const urls = (members: readonly { address: string }[]) =>
    members.map((x) => `http://${x.address}:${ETCD_CLIENT_PORT}`).join(',');
  const replica = clusterOf(t, m.datacenter).members;
  const local = [
    ...replica.filter((x) => x.address === m.host.address),
    ...replica.filter((x) => x.address !== m.host.address),
  ];
  return [
    nodeBinary,
    etcdmirrorScript,
    '--src-prefix /',
    '--dst-prefix /',
    // The lab's exclusions (IGNORE_KEYS_REGEX, also in galley.yaml): locks of both layouts, shared runs.
    `--src-ignore-keys-regex '${IGNORE_KEYS_REGEX}'`,
    `--listen ${m.host.address}:${m.metricsPort}`,
    urls(clusterOf(t, m.sourceDatacenter).members),
    urls(local),
  ];
}

/**
 * The unit runs the mirror with --resync-on-gap (a restart that finds the next event gone from
 * the source's 1000-event history repairs the differences and goes on, instead of exiting 5),
 * and Restart=on-failure brings it back after a crash or a failure (exit 1: a cluster was
 * unreachable for 30 s). Not after what a restart cannot fix and an operator must see: bad
 * usage (2), no replication index (3), an inconsistency (4): etcd.status shows why it stopped,
 * and etcd.replication-reload repairs it.
 */
export function renderMirrorUnit(
  t: LabTopology,
  m: LabMirrorUnit,
  nodeBinary: string,
  etcdmirrorScript: string,
): string {
  const [node, script, ...rest] = mirrorArgs(t, m, nodeBinary, etcdmirrorScript);
  return unitFile({
    Description: `etcdmirror - replicates ${m.sourceDatacenter} etcd into ${m.datacenter}`,
    Type: 'simple',
    ExecStart: [node, script, '--resync-on-gap', ...rest].join(' '),
    Restart: 'on-failure',
    RestartSec: MIRROR_RESTART_SEC,
    RestartPreventExitStatus: '2 3 4',
    'X-LabLog': `/var/log/${m.unit}/syslog.log`,
    TimeoutStopSec: '10',
  });
}

/** How long the lab's mirror unit waits before a restart after a failure. */
export const MIRROR_RESTART_SEC = '1s';

/**
 * /usr/local/sbin/reload-etcdmirror on the mirror host, as in production: runs etcdmirror in the
 * foreground with the unit's arguments plus --reload (stop the unit first).
 */
export function renderMirrorReloadScript(
  t: LabTopology,
  m: LabMirrorUnit,
  nodeBinary: string,
  etcdmirrorScript: string,
): string {
  const [node, script, ...rest] = mirrorArgs(t, m, nodeBinary, etcdmirrorScript);
  return `#!/bin/sh
# Full reload of ${m.unit}: erases the replica's keys and copies everything from ${m.sourceDatacenter}.
# Stop the unit first (systemctl stop ${m.unit}); once "Starting replication at" is logged,
# stop this run (Ctrl-C) and start the unit again.
if systemctl is-active -q ${m.unit}; then
  echo "reload-etcdmirror: ${m.unit} is running; stop it first: systemctl stop ${m.unit}" >&2
  exit 1
fi
exec ${node} ${script} --reload ${rest.join(' ')} "$@"
`;
}

/** The nightly backup of the lab: a timer on the first member of each cluster, and the oneshot unit it starts. */
export const BACKUP_UNIT = 'etcd-backup';
export const BACKUP_TIMER = `${BACKUP_UNIT}.timer`;
export const BACKUP_TIME = '02:00';

/**
 * The oneshot unit that runs `cookbook etcd.backup CLUSTER --yes` from the member (as the
 * production cron job does every night), with the lab's environment file.
 */
export function renderBackupUnit(
  cluster: string,
  nodeBinary: string,
  cookbookScript: string,
  configFile: string,
): string {
  return unitFile({
    Description: `nightly verified v2 backup of etcd ${cluster} (cookbook etcd.backup)`,
    Type: 'oneshot',
    ExecStart: [
      nodeBinary,
      cookbookScript,
      'etcd.backup',
      cluster,
      '--yes',
      '--config',
      configFile,
      '--reason',
      "'nightly backup'",
    ].join(' '),
    'X-LabLog': `/var/log/${BACKUP_UNIT}.log`,
  });
}

/** The timer that starts the backup unit every night at BACKUP_TIME. */
export function renderBackupTimer(): string {
  return `# Galley lab timer (read by the lab's systemctl stand-in)\n[Timer]\nDescription=nightly etcd backup\nOnCalendar=${BACKUP_TIME}\nUnit=${BACKUP_UNIT}.service\n`;
}

/** nginx.conf of a conf host: TLS on :4001, basic auth, the read-only switch, proxy to the local etcd. */
export function renderNginxConf(host: LabHost): string {
  return `# Galley lab: the etcd TLS + basic-auth proxy of ${host.name}
user root;
worker_processes 1;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log warn;
worker_shutdown_timeout 30s;
events { worker_connections 1024; }
http {
  access_log /var/log/nginx/etcd-access.log;
  client_body_temp_path /run/nginx-tmp/body;
  proxy_temp_path /run/nginx-tmp/proxy;
  fastcgi_temp_path /run/nginx-tmp/fastcgi;
  uwsgi_temp_path /run/nginx-tmp/uwsgi;
  scgi_temp_path /run/nginx-tmp/scgi;
  upstream etcd_local {
    server ${host.address}:${ETCD_CLIENT_PORT};
    keepalive 16;
  }
  server {
    listen ${host.address}:${PROXY_PORT} ssl;
    server_name ${host.name};
    ssl_certificate /etc/nginx/ssl/${host.name}.crt;
    ssl_certificate_key /etc/nginx/ssl/${host.name}.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    auth_basic "etcd ${host.datacenter}";
    auth_basic_user_file /etc/nginx/etcd.htpasswd;
    client_max_body_size 10m;
    location / {
      default_type application/json;
      include ${READ_ONLY_SWITCH_FILE};
      proxy_pass http://etcd_local;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }
  }
}
`;
}

export interface SshdOptions {
  listen: string[];
  hostKey: string;
  authorizedKeys: string;
  maxStartups?: string;
}

/** sshd_config of one lab host: key-only root login, fast key exchange, no PAM. */
export function renderSshdConfig(o: SshdOptions): string {
  return [
    '# Galley lab sshd',
    ...o.listen.map((a) => `ListenAddress ${a}:${SSH_PORT}`),
    `HostKey ${o.hostKey}`,
    'PidFile /run/sshd.pid',
    `AuthorizedKeysFile ${o.authorizedKeys}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'KexAlgorithms curve25519-sha256,ecdh-sha2-nistp256',
    `MaxStartups ${o.maxStartups ?? '100:30:200'}`,
    'MaxSessions 64',
    'LogLevel ERROR',
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n');
}

/** The `wmnet` zone: A records for every host, the per-datacenter SRV records and the conftool read-write record. */
export function renderWmnetZone(t: LabTopology, serial: number): string {
  const [ns1, ns2] = t.authdns;
  const out: string[] = [
    '; wmnet zone of the Galley lab',
    '$TTL 3600',
    `@ 300 IN SOA ${ns1!.name}. hostmaster.wikimedia.org. ( ${serial} 43200 7200 1209600 300 )`,
    ...t.authdns.map((h) => `@ 86400 IN NS ${h.name}.`),
  ];
  void ns2;
  for (const h of allHosts(t)) out.push(`${h.name}. 3600 IN A ${h.address}`);
  out.push(`${t.knot.name}. 3600 IN A ${t.knot.address}`);
  for (const c of t.clusters) {
    for (const m of c.members)
      out.push(`${srvRecordOf(c.datacenter)}. ${SRV_TTL_SECONDS} IN SRV 0 1 ${PROXY_PORT} ${m.name}.`);
    for (const m of c.members)
      out.push(
        `_etcd-server._tcp.${c.datacenter}.wmnet. ${SRV_TTL_SECONDS} IN SRV 0 1 ${ETCD_PEER_PORT} ${m.name}.`,
      );
  }
  for (const m of clusterOf(t, t.master).members)
    out.push(`${RW_SRV_RECORD}. ${SRV_TTL_SECONDS} IN SRV 0 1 ${PROXY_PORT} ${m.name}.`);
  return out.join('\n') + '\n';
}

/** gdnsd's config of one authdns host (zones are in /etc/gdnsd/zones). */
export function renderGdnsdConfig(host: LabHost): string {
  return `# Galley lab gdnsd on ${host.name}
options => {
  listen => [ ${host.address}:${DNS_PORT} ]
  run_dir => /run/gdnsd
  state_dir => /run/gdnsd-state
  udp_threads => 1
  tcp_threads => 1
}
`;
}

export interface KnotOptions {
  address: string;
  port: number;
  dir: string;
  tsigName: string;
  tsigSecret: string;
}

/** knot.conf: the `wmnet` zone, updatable over RFC 2136 with the lab's TSIG key. */
export function renderKnotConf(o: KnotOptions): string {
  return `# Galley lab knot
server:
    rundir: "${o.dir}/run"
    listen: ${o.address}@${o.port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "${o.dir}/run/knot.sock"
database:
    storage: "${o.dir}/db"
log:
  - target: stderr
    any: notice
key:
  - id: ${o.tsigName}
    algorithm: hmac-sha256
    secret: ${o.tsigSecret}
acl:
  - id: tsig-update
    key: ${o.tsigName}
    action: update
template:
  - id: default
    storage: "${o.dir}/zones"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: changes
zone:
  - domain: wmnet
    acl: tsig-update
`;
}

/** The htpasswd line of the proxy's basic auth, given an apr1 hash from `openssl passwd -apr1`. */
export function renderHtpasswd(user: string, apr1Hash: string): string {
  return `${user}:${apr1Hash.trim()}\n`;
}

/** /etc/hosts inside every lab host: localhost, the host itself, and every lab host by name. */
export function renderEtcHosts(t: LabTopology): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const h of allHosts(t)) lines.push(`${h.address}\t${h.name} ${h.name.split('.')[0]}`);
  lines.push(`${t.knot.address}\t${t.knot.name} ${t.knot.name.split('.')[0]}`);
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// The etcd clients (src/lab/assets/etcd-client.mjs), each on its own host

/** The files of a client on its host. */
export function clientPaths(c: LabClient): {
  dir: string;
  config: string;
  etcdConfig: string;
  status: string;
  rendered: string;
  events: string;
  repoint: string;
} {
  return {
    dir: `/etc/${c.unit}`,
    config: `/etc/${c.unit}/client.json`,
    etcdConfig: `/etc/${c.unit}/${c.unit}.conf`,
    status: `/srv/${c.unit}/status.json`,
    rendered: `/srv/${c.unit}/rendered.json`,
    events: `/var/log/${c.unit}/events.log`,
    repoint: `/usr/local/sbin/${c.unit}-set-etcd`,
  };
}

/** The client's settings (JSON, read by etcd-client.mjs). */
export function renderClientConfig(t: LabTopology, c: LabClient): string {
  const p = clientPaths(c);
  return `${JSON.stringify(
    {
      name: c.host.name,
      kind: c.kind,
      address: c.host.address,
      ...(c.kind === 'pybal'
        ? { etcdConfigFile: p.etcdConfig }
        : {
            srvRecord: srvRecordOf(c.host.datacenter),
            dnsServers: t.authdns.map((h) => `${h.address}:${DNS_PORT}`),
          }),
      caFile: `${p.dir}/ca.crt`,
      username: 'root',
      passwordFile: `${p.dir}/etcd-password`,
      prefix: '/conftool',
      intervalMs: 500,
      statusFile: p.status,
      eventsLog: p.events,
      ...(c.kind === 'confd' ? { outFile: p.rendered } : {}),
    },
    null,
    2,
  )}\n`;
}

/** pybal's etcd section: where its etcd driver connects (re-pointed by `pybal-set-etcd HOST`). */
export function renderPybalEtcdConfig(host: string): string {
  return `# pybal etcd driver (Galley lab)\n[etcd]\nhost = ${host}\nport = ${PROXY_PORT}\n`;
}

/** `/usr/local/sbin/UNIT-set-etcd HOST`: points a configured client's config file at another etcd host. */
export function renderRepointScript(c: LabClient): string {
  const p = clientPaths(c);
  return `#!/bin/sh
# Points ${c.unit} at another etcd host (its config file ${p.etcdConfig}); restart ${c.unit} to use it.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 HOST" >&2; exit 2; }
case $1 in *[!A-Za-z0-9.-]*|'') echo "$0: \\"$1\\" is not a host name" >&2; exit 2 ;; esac
sed -i "s/^host = .*/host = $1/" ${p.etcdConfig}
grep -q "^host = $1\\$" ${p.etcdConfig}
`;
}

/** The client's unit: ready once its status says it watches (or reads) with the new process. */
export function renderClientUnit(c: LabClient, nodeBinary: string, script: string): string {
  const p = clientPaths(c);
  return unitFile({
    Description: `${c.kind}-like etcd client (Galley lab)`,
    Type: 'simple',
    ExecStart: `${nodeBinary} --max-old-space-size=24 --max-semi-space-size=1 ${script} ${p.config}`,
    'X-LabReady': `grep -q "^{\\"pid\\":$(cat /run/lab-units/${c.unit}.pid),\\"watching\\":true" ${p.status}`,
    'X-LabLog': `/var/log/${c.unit}/syslog.log`,
    TimeoutStartSec: '20',
    TimeoutStopSec: '5',
  });
}
