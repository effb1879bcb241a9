import { Secret } from '../core/secrets.js';
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
  backupDir: string;
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
  sshR.onlyKeys(['user', 'key_file', 'known_hosts', 'connect_timeout', 'command_timeout']);
  const ssh: SshConfig = {
    user: sshR.child('user').string('root'),
    keyFile: sshR.child('key_file').optionalString(),
    knownHosts: sshR.child('known_hosts').string(),
    connectTimeoutMs: sshR.child('connect_timeout').durationMs('5s'),
    commandTimeoutMs: sshR.child('command_timeout').durationMs('5m'),
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
      backupDir: c.child('backup_dir').string('/srv/backup/etcd'),
    };
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
    replR.onlyKeys(['master', 'src_prefix', 'dst_prefix', 'ignore_keys_regex', 'mirrors', 'rw_srv_record']);
    const master = replR.child('master').string();
    dcKnown(replR.child('master'), master);
    const mirrors: Record<string, MirrorConfig> = {};
    for (const [dc, m] of replR.child('mirrors').object().entries()) {
      dcKnown(m, dc);
      m.object();
      m.onlyKeys(['host', 'unit', 'metrics_url']);
      const host = m.child('host').string();
      hostKnown(m.child('host'), host);
      mirrors[dc] = { host, unit: m.child('unit').string(), metricsUrl: m.child('metrics_url').string() };
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
  };
  return problems.length ? { problems } : { config, problems };
}
