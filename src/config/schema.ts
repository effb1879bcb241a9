import { Secret } from '../base/secrets.js';
import { Reader } from './reader.js';

/** One host of the inventory. */
export interface HostConfig {
  name: string;
  address: string;
  datacenter: string;
  roles: string[];
  sshPort: number;
}

export interface SshConfig {
  user: string;
  /** Private key; absent: the ssh-agent at SSH_AUTH_SOCK. */
  keyFile?: string;
  knownHosts: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /** SSH handshakes in flight at once (the fan-out window); absent: the transport's default. */
  fanout?: number;
}

/** One etcd cluster: its members are hosts of the inventory. */
export interface EtcdClusterConfig {
  name: string;
  datacenter: string;
  members: string[];
  /** Local, unauthenticated client port (plain HTTP); firewalled from remote clients in production. */
  clientPort: number;
  clientScheme: 'http' | 'https';
  peerPort: number;
  /** The TLS + basic-auth proxy: the advertised client URL. */
  proxyPort: number;
  /** SRV record clients in this datacenter use to find the cluster. */
  srvRecord: string;
  /** Service unit of etcd on each member. */
  unit: string;
  /** Data directory on each member. */
  dataDir: string;
  /** Environment file of etcd on each member (ETCD_INITIAL_CLUSTER_STATE lives there). */
  envFile: string;
  /** Where etcd.backup writes its dated backups on the member it backs up (`DIR/CLUSTER/YYYYMMDD-HHMMSS`). */
  backupDir: string;
  /** How many verified backups etcd.backup keeps per cluster on a member (older ones are pruned). */
  backupKeep: number;
  /**
   * False for a cluster that is defined but not serving yet (before etcd.bootstrap): status and
   * the other cookbooks leave it out. Default true.
   */
  inService: boolean;
  /**
   * The fewest members a membership change may leave (min_members; default: a majority of
   * the configured members, so 3 allows 2 and 2 allows none fewer).
   */
  minMembers: number;
}

export interface EtcdConfig {
  caFile?: string;
  credentials?: { username: string; password: Secret };
  lockPrefix: string;
  requestTimeoutMs: number;
  clusters: Record<string, EtcdClusterConfig>;
}

export interface MirrorConfig {
  host: string;
  unit: string;
  metricsUrl: string;
  /**
   * Runs etcdmirror once in the foreground with --reload on the mirror host (the unit stopped):
   * erases the destination prefix and copies everything afresh. Used by etcd.replication-reload.
   */
  reloadCommand: string[];
}

export interface ReplicationConfig {
  /** The datacenter whose cluster is the read-write master. */
  master: string;
  srcPrefix: string;
  dstPrefix: string;
  ignoreKeysRegex: string;
  /** Per datacenter: where etcdmirror runs when that datacenter is the replica. */
  mirrors: Record<string, MirrorConfig>;
  /** SRV record of read-write (conftool) clients: points at the master datacenter. */
  rwSrvRecord: string;
  /** The replication lag (events) under which a switchover may start (max_lag, default 100). */
  maxLagEvents: number;
  /**
   * The longest a switchover waits for the old conftool TTL to pass before making the master
   * read-only (ttl_wait_max; absent: the whole TTL). A lab sets a small cap.
   */
  ttlWaitMaxMs?: number;
}

export interface ReadOnlySwitchConfig {
  /** File (on every member of the datacenter) whose content switches the proxy. */
  file: string;
  readOnlyContent: string;
  readWriteContent: string;
  reloadCommand: string[];
}

export interface ProxyConfig {
  readOnlySwitch: ReadOnlySwitchConfig;
  canaryKey: string;
}

export interface DnsServerConfig {
  name: string;
  address: string;
  port: number;
}

export type ZoneBackendConfig =
  | { type: 'zonefile'; host: string; file: string; checkCommand?: string[]; publishCommand: string[] }
  | {
      type: 'rfc2136';
      server: DnsServerConfig;
      tsig: { name: string; algorithm: 'hmac-sha256'; secret: Secret };
    };

export interface ZoneConfig {
  name: string;
  servers: DnsServerConfig[];
  backend: ZoneBackendConfig;
}

export interface DnsConfig {
  timeoutMs: number;
  retries: number;
  zones: Record<string, ZoneConfig>;
}

/** Prometheus and Alertmanager: silences around risky steps, and "no alert firing" checks. */
export interface AlertingConfig {
  alertmanagerUrl: string;
  prometheusUrl: string;
  requestTimeoutMs: number;
  /** How long a cookbook's silence lasts unless it is expired earlier (default 2h). */
  silenceDurationMs: number;
}

/** Where each run's START and END are announced (besides the audit file). */
export interface AnnounceConfig {
  /** Also write them to the audit file (audit_log), as always (default true). */
  auditFile: boolean;
  syslog?: { socket: string; tag: string; facility: string };
  webhook?: { url: string; timeoutMs: number };
  irc?: { server: string; port: number; channel: string; nick: string; timeoutMs: number };
  /** Announce a prompt that has waited longer than this ("waiting for input"); absent: never. */
  waitingForInputAfterMs?: number;
}

/** Two-person review: which cookbooks need a plan approved by someone else than the runner. */
export interface ReviewConfig {
  /** `all`, or the names of the cookbooks that need it. */
  required: 'all' | string[];
}

export interface GalleyConfig {
  /** Path the configuration was read from. */
  file: string;
  name: string;
  stateDir?: string;
  auditLog?: string;
  datacenters: string[];
  hosts: Record<string, HostConfig>;
  aliases: Record<string, string>;
  ssh: SshConfig;
  etcd: EtcdConfig;
  replication?: ReplicationConfig;
  proxy?: ProxyConfig;
  dns?: DnsConfig;
  alerting?: AlertingConfig;
  announce?: AnnounceConfig;
  review?: ReviewConfig;
}

function secret(r: Reader): Secret {
  r.object();
  r.onlyKeys(['file', 'env']);
  const file = r.child('file').optionalString();
  const env = r.child('env').optionalString();
  if (r.isObject() && (file === undefined) === (env === undefined)) {
    r.problem(
      'give exactly one of "file" (a path) or "env" (an environment variable name); secrets are never inline',
    );
  }
  return new Secret(file !== undefined ? { file } : { env: env ?? '' });
}

function command(r: Reader, fallback?: string[]): string[] {
  if (!r.present && fallback) return fallback;
  if (typeof r.value === 'string') return r.value.split(/\s+/).filter(Boolean);
  return r.stringList();
}

/** An absolute path without `..` (backups are created and pruned under it). */
function absolutePath(r: Reader, fallback: string): string {
  const v = r.string(fallback);
  if (v && (!v.startsWith('/') || v.split('/').includes('..') || v.split('/').filter(Boolean).length < 1)) {
    r.problem(`must be an absolute path below / without "..", not "${v}"`);
  }
  return v.replace(/\/+$/, '') || v;
}

/** Validates a parsed YAML document; returns the config or every problem found, each with its path. */
export function parseConfig(raw: unknown, file: string): { config?: GalleyConfig; problems: string[] } {
  const problems: string[] = [];
  const root = Reader.root(raw, problems).object();
  root.onlyKeys([
    'name',
    'state_dir',
    'audit_log',
    'datacenters',
    'hosts',
    'aliases',
    'ssh',
    'etcd',
    'replication',
    'proxy',
    'dns',
    'alerting',
    'announce',
    'review',
  ]);

  const datacenters = root.child('datacenters').stringList();
  const dcKnown = (r: Reader, dc: string) => {
    if (dc && !datacenters.includes(dc))
      r.problem(`unknown datacenter "${dc}"; known: ${datacenters.join(', ')}`);
  };

  const hosts: Record<string, HostConfig> = {};
  const hostsR = root.child('hosts').object();
  const addresses = new Map<string, string>();
  for (const [name, h] of hostsR.entries()) {
    h.object();
    h.onlyKeys(['address', 'datacenter', 'roles', 'ssh_port']);
    if (!/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(name))
      h.problem('host names may contain only letters, digits, dots and dashes');
    const address = h.child('address').ipv4();
    const sshPort = h.child('ssh_port').integer(22, 1, 65535);
    const key = `${address}:${sshPort}`;
    if (address && addresses.has(key))
      h.child('address').problem(`${key} is also used by ${addresses.get(key)}`);
    addresses.set(key, name);
    const datacenter = h.child('datacenter').string();
    dcKnown(h.child('datacenter'), datacenter);
    hosts[name] = { name, address, datacenter, roles: h.child('roles').stringList([]), sshPort };
  }
  const hostKnown = (r: Reader, name: string) => {
    if (name && !hosts[name]) r.problem(`unknown host "${name}": it must be listed under hosts`);
  };

  const aliases: Record<string, string> = {};
  for (const [name, a] of root.child('aliases').entries()) aliases[name] = a.string();

  const sshR = root.child('ssh').object();
  sshR.onlyKeys(['user', 'key_file', 'known_hosts', 'connect_timeout', 'command_timeout', 'fanout']);
  const fanoutR = sshR.child('fanout');
  const ssh: SshConfig = {
    user: sshR.child('user').string('root'),
    keyFile: sshR.child('key_file').optionalString(),
    knownHosts: sshR.child('known_hosts').string(),
    connectTimeoutMs: sshR.child('connect_timeout').durationMs('5s'),
    commandTimeoutMs: sshR.child('command_timeout').durationMs('5m'),
    ...(fanoutR.present ? { fanout: fanoutR.integer(undefined, 1, 10_000) } : {}),
  };

  const etcdR = root.child('etcd').object();
  etcdR.onlyKeys(['ca_file', 'credentials', 'lock_prefix', 'request_timeout', 'clusters']);
  const credR = etcdR.child('credentials').optionalObject();
  credR?.onlyKeys(['username', 'password']);
  const clusters: Record<string, EtcdClusterConfig> = {};
  for (const [name, c] of etcdR.child('clusters').object().entries()) {
    c.object();
    c.onlyKeys([
      'datacenter',
      'members',
      'client_port',
      'client_scheme',
      'peer_port',
      'proxy_port',
      'srv_record',
      'unit',
      'data_dir',
      'env_file',
      'backup_dir',
      'backup_keep',
      'in_service',
      'min_members',
    ]);
    const datacenter = c.child('datacenter').string(name);
    dcKnown(c.child('datacenter'), datacenter);
    const membersR = c.child('members');
    const members = membersR.stringList();
    members.forEach((m, i) => hostKnown(membersR.child(i), m));
    if (membersR.present && members.length === 0) membersR.problem('a cluster needs at least one member');
    clusters[name] = {
      name,
      datacenter,
      members,
      clientPort: c.child('client_port').integer(2379, 1, 65535),
      clientScheme: c.child('client_scheme').oneOf(['http', 'https'] as const, 'http'),
      peerPort: c.child('peer_port').integer(2380, 1, 65535),
      proxyPort: c.child('proxy_port').integer(4001, 1, 65535),
      srvRecord: c.child('srv_record').string(),
      unit: c.child('unit').string('etcd'),
      dataDir: c.child('data_dir').string('/var/lib/etcd'),
      envFile: c.child('env_file').string('/etc/default/etcd'),
      backupDir: absolutePath(c.child('backup_dir'), '/srv/backup/etcd'),
      backupKeep: c.child('backup_keep').integer(7, 1, 1000),
      inService: c.child('in_service').boolean(true),
      minMembers: c
        .child('min_members')
        .integer(Math.floor(members.length / 2) + 1, 1, Math.max(1, members.length)),
    };
    if (clusters[name]!.dataDir && !clusters[name]!.dataDir.startsWith('/'))
      c.child('data_dir').problem(`must be an absolute path, not "${clusters[name]!.dataDir}"`);
  }
  const etcd: EtcdConfig = {
    caFile: etcdR.child('ca_file').optionalString(),
    credentials: credR
      ? { username: credR.child('username').string(), password: secret(credR.child('password')) }
      : undefined,
    lockPrefix: etcdR.child('lock_prefix').string('/galley/locks'),
    requestTimeoutMs: etcdR.child('request_timeout').durationMs('10s'),
    clusters,
  };

  let replication: ReplicationConfig | undefined;
  const replR = root.child('replication').optionalObject();
  if (replR) {
    replR.onlyKeys([
      'master',
      'src_prefix',
      'dst_prefix',
      'ignore_keys_regex',
      'mirrors',
      'rw_srv_record',
      'max_lag',
      'ttl_wait_max',
    ]);
    const master = replR.child('master').string();
    dcKnown(replR.child('master'), master);
    const mirrors: Record<string, MirrorConfig> = {};
    for (const [dc, m] of replR.child('mirrors').object().entries()) {
      dcKnown(m, dc);
      m.object();
      m.onlyKeys(['host', 'unit', 'metrics_url', 'reload_command']);
      const host = m.child('host').string();
      hostKnown(m.child('host'), host);
      const reloadCommand = command(m.child('reload_command'), ['reload-etcdmirror']);
      if (m.child('reload_command').present && !reloadCommand.length)
        m.child('reload_command').problem('must name a command');
      mirrors[dc] = {
        host,
        unit: m.child('unit').string(),
        metricsUrl: m.child('metrics_url').string(),
        reloadCommand,
      };
    }
    const ignore = replR.child('ignore_keys_regex').string('^/spicerack/locks/etcd');
    try {
      new RegExp(ignore);
    } catch (e) {
      replR.child('ignore_keys_regex').problem(`not a valid regular expression: ${(e as Error).message}`);
    }
    replication = {
      master,
      srcPrefix: replR.child('src_prefix').string('/'),
      dstPrefix: replR.child('dst_prefix').string('/'),
      ignoreKeysRegex: ignore,
      mirrors,
      rwSrvRecord: replR.child('rw_srv_record').string(),
      maxLagEvents: replR.child('max_lag').integer(100, 0),
      ...(replR.child('ttl_wait_max').present
        ? { ttlWaitMaxMs: replR.child('ttl_wait_max').durationMs('0s') }
        : {}),
    };
  }

  let proxy: ProxyConfig | undefined;
  const proxyR = root.child('proxy').optionalObject();
  if (proxyR) {
    proxyR.onlyKeys(['read_only_switch', 'canary_key']);
    const s = proxyR.child('read_only_switch').object();
    s.onlyKeys(['file', 'read_only_content', 'read_write_content', 'reload_command']);
    proxy = {
      readOnlySwitch: {
        file: s.child('file').string(),
        readOnlyContent: s.child('read_only_content').string(),
        readWriteContent:
          typeof s.child('read_write_content').value === 'string'
            ? (s.child('read_write_content').value as string)
            : '',
        reloadCommand: command(s.child('reload_command'), ['nginx', '-s', 'reload']),
      },
      canaryKey: proxyR.child('canary_key').string('/galley/canary'),
    };
  }

  let dns: DnsConfig | undefined;
  const dnsR = root.child('dns').optionalObject();
  if (dnsR) {
    dnsR.onlyKeys(['timeout', 'retries', 'zones']);
    const server = (r: Reader): DnsServerConfig => {
      const v = r.string();
      if (hosts[v]) return { name: v, address: hosts[v].address, port: 53 };
      const m = /^(\d+\.\d+\.\d+\.\d+)(?::(\d+))?$/.exec(v);
      if (!m) {
        if (v) r.problem(`"${v}" is neither a host of the inventory nor an address such as 127.0.0.1:53`);
        return { name: v, address: '', port: 53 };
      }
      return { name: v, address: m[1]!, port: m[2] ? Number(m[2]) : 53 };
    };
    const zones: Record<string, ZoneConfig> = {};
    for (const [name, z] of dnsR.child('zones').object().entries()) {
      z.object();
      z.onlyKeys(['servers', 'backend']);
      const servers = z.child('servers').items().map(server);
      const b = z.child('backend').object();
      const type = b.child('type').oneOf(['zonefile', 'rfc2136'] as const);
      let backend: ZoneBackendConfig;
      if (type === 'rfc2136') {
        b.onlyKeys(['type', 'server', 'tsig']);
        const t = b.child('tsig').object();
        t.onlyKeys(['name', 'algorithm', 'secret']);
        backend = {
          type,
          server: server(b.child('server')),
          tsig: {
            name: t.child('name').string(),
            algorithm: t.child('algorithm').oneOf(['hmac-sha256'] as const, 'hmac-sha256'),
            secret: secret(t.child('secret')),
          },
        };
      } else {
        b.onlyKeys(['type', 'host', 'file', 'check_command', 'publish_command']);
        const host = b.child('host').string();
        hostKnown(b.child('host'), host);
        backend = {
          type: 'zonefile',
          host,
          file: b.child('file').string(),
          checkCommand: b.child('check_command').present ? command(b.child('check_command')) : undefined,
          publishCommand: command(b.child('publish_command'), ['authdns-update']),
        };
      }
      zones[name] = { name, servers, backend };
    }
    dns = {
      timeoutMs: dnsR.child('timeout').durationMs('2s'),
      retries: dnsR.child('retries').integer(2, 0, 10),
      zones,
    };
  }

  const alerting = parseAlerting(root.child('alerting'));
  const announce = parseAnnounce(root.child('announce'));
  const review = parseReview(root.child('review'));

  const config: GalleyConfig = {
    file,
    name: root.child('name').string('default'),
    stateDir: root.child('state_dir').optionalString(),
    auditLog: root.child('audit_log').optionalString(),
    datacenters,
    hosts,
    aliases,
    ssh,
    etcd,
    replication,
    proxy,
    dns,
    alerting,
    announce,
    review,
  };
  return problems.length ? { problems } : { config, problems };
}

/** An http(s) URL, or a problem naming the path. */
function url(r: Reader): string {
  const v = r.string();
  if (v && !/^https?:\/\/[^\s/]+(\/\S*)?$/.test(v)) r.problem(`"${v}" is not an http:// or https:// URL`);
  return v.replace(/\/+$/, '');
}

function parseAlerting(r: Reader): AlertingConfig | undefined {
  const a = r.optionalObject();
  if (!a) return undefined;
  a.onlyKeys(['alertmanager_url', 'prometheus_url', 'request_timeout', 'silence_duration']);
  return {
    alertmanagerUrl: url(a.child('alertmanager_url')),
    prometheusUrl: url(a.child('prometheus_url')),
    requestTimeoutMs: a.child('request_timeout').durationMs('5s'),
    silenceDurationMs: a.child('silence_duration').durationMs('2h'),
  };
}

/** Syslog facilities a sink may use. */
const FACILITIES = [
  'user',
  'daemon',
  'auth',
  'local0',
  'local1',
  'local2',
  'local3',
  'local4',
  'local5',
  'local6',
  'local7',
] as const;

function parseAnnounce(r: Reader): AnnounceConfig | undefined {
  const a = r.optionalObject();
  if (!a) return undefined;
  a.onlyKeys(['audit_file', 'syslog', 'webhook', 'irc', 'waiting_for_input_after']);
  const out: AnnounceConfig = { auditFile: a.child('audit_file').boolean(true) };
  const s = a.child('syslog');
  if (s.present) {
    // `syslog: true` means the defaults (/dev/log, tag galley, facility user).
    const o = s.value === true ? undefined : s.object();
    o?.onlyKeys(['socket', 'tag', 'facility']);
    const facility = o ? o.child('facility').oneOf(FACILITIES, 'user') : 'user';
    out.syslog = {
      socket: o?.child('socket').string('/dev/log') ?? '/dev/log',
      tag: o?.child('tag').string('galley') ?? 'galley',
      facility,
    };
  }
  const w = a.child('webhook').optionalObject();
  if (w) {
    w.onlyKeys(['url', 'timeout']);
    out.webhook = { url: url(w.child('url')), timeoutMs: w.child('timeout').durationMs('3s') };
  }
  const i = a.child('irc').optionalObject();
  if (i) {
    i.onlyKeys(['server', 'port', 'channel', 'nick', 'timeout']);
    const channel = i.child('channel').string();
    if (channel && !/^[#&][^\s,\x07]+$/.test(channel))
      i.child('channel').problem(
        `"${channel}" is not an IRC channel (it starts with # and has no spaces or commas)`,
      );
    const nick = i.child('nick').string('galley');
    if (!/^[A-Za-z_][A-Za-z0-9_-]{0,15}$/.test(nick))
      i.child('nick').problem(
        `"${nick}" is not a valid IRC nick (a letter or _, then letters, digits, _ or -; at most 16)`,
      );
    out.irc = {
      server: i.child('server').string(),
      port: i.child('port').integer(6667, 1, 65535),
      channel,
      nick,
      timeoutMs: i.child('timeout').durationMs('5s'),
    };
  }
  if (a.child('waiting_for_input_after').present)
    out.waitingForInputAfterMs = a.child('waiting_for_input_after').durationMs('5m');
  return out;
}

function parseReview(r: Reader): ReviewConfig | undefined {
  const o = r.optionalObject();
  if (!o) return undefined;
  o.onlyKeys(['required']);
  const req = o.child('required');
  if (req.value === 'all') return { required: 'all' };
  if (typeof req.value === 'string') {
    req.problem('give "all" or a list of cookbook names, e.g. [etcd.switchover]');
    return { required: [] };
  }
  return { required: req.stringList() };
}
