/**
 * In-memory fakes of the transports, enough to dry-run every cookbook without the lab: an
 * etcd v2 API per cluster (under the real EtcdClient), SSH hosts with files and units (under
 * the real RemoteExecutor, with the FakeTransport of the SSH unit tests), the authoritative
 * DNS answers, the mirrors' HTTP pages and Alertmanager/Prometheus. The world is the lab's
 * (same topology, config, unit files and environment files), healthy, with codfw the master.
 *
 * A dry-run must change nothing: the fake etcd throws on any write, and every SSH command that
 * reaches the fake hosts must be one of the read-only commands it knows (`unknown` records the
 * others, and the tests expect it empty).
 */
import { parseConfig, type GalleyConfig } from '../../../src/config/schema.js';
import type { ProvidedServices } from '../../../src/core/run-env.js';
import type { RecordType, RecordValue, RRsetObservation } from '../../../src/dns/index.js';
import { EtcdClient } from '../../../src/etcd/client.js';
import { EtcdTransport, type EtcdHttpRequest, type EtcdHttpResponse } from '../../../src/etcd/http.js';
import { labEnvironment } from '../../../src/lab/envfile.js';
import { LabLayout } from '../../../src/lab/layout.js';
import { renderEtcdDefault, renderMirrorUnit, renderSpareEtcdDefault } from '../../../src/lab/render.js';
import { labTopology, type LabHost } from '../../../src/lab/topology.js';
import { RemoteExecutor } from '../../../src/ssh/executor.js';
import type { Remote } from '../../../src/ssh/remote.js';
import { FakeTransport } from '../ssh/fake-transport.js';

export const topology = labTopology('127.22', 0);

/** The lab's environment file, parsed (announcements left out: a dry-run announces nothing anyway). */
export function labConfig(): GalleyConfig {
  const raw = labEnvironment(topology, new LabLayout('/tmp/galley-plan-lab'), 'zonefile');
  delete raw.announce;
  const { config, problems } = parseConfig(raw, '/tmp/galley-plan-lab/galley.yaml');
  if (!config) throw new Error(problems.join('\n'));
  return config;
}

// ---- etcd ----------------------------------------------------------------------------------

interface FakeMember {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
}

/** One cluster's v2 keyspace (files only; directories are implied by their keys), members and leader. */
export class FakeEtcdCluster {
  readonly keys = new Map<string, { value: string; index: number }>();
  index = 1000;
  readonly members: FakeMember[];
  leader: string | undefined;
  readOnly = false;
  /** Members whose etcd does not answer. */
  readonly down = new Set<string>();

  constructor(
    readonly name: string,
    members: { name: string; address: string }[],
    started = true,
  ) {
    this.members = started
      ? members.map((m, i) => ({
          id: (0x1000 + i).toString(16).padStart(16, 'a'),
          name: m.name,
          peerURLs: [`http://${m.address}:2380`],
          clientURLs: [`http://${m.address}:2379`],
        }))
      : [];
    this.leader = this.members[0]?.name;
    if (!started) for (const m of members) this.down.add(m.name);
  }

  put(key: string, value: string): void {
    this.keys.set(key, { value, index: ++this.index });
  }

  #node(key: string, recursive: boolean): unknown {
    const file = this.keys.get(key);
    if (file) return { key, value: file.value, modifiedIndex: file.index, createdIndex: file.index };
    const prefix = key === '/' ? '/' : `${key}/`;
    const children = new Set<string>();
    for (const k of this.keys.keys()) {
      if (!k.startsWith(prefix)) continue;
      children.add(prefix + k.slice(prefix.length).split('/')[0]!);
    }
    if (!children.size && key !== '/') return undefined;
    return {
      key,
      dir: true,
      modifiedIndex: 1,
      createdIndex: 1,
      nodes: [...children]
        .sort()
        .map((c) =>
          recursive ? this.#node(c, true) : this.keys.has(c) ? this.#node(c, false) : { key: c, dir: true },
        ),
    };
  }

  /** The answer of member `as` (undefined: the cluster's leader) to one request. */
  answer(req: EtcdHttpRequest, as: string | undefined): { status: number; body: unknown } {
    const self = this.members.find((m) => m.name === (as ?? this.leader));
    const path = req.path.split('?')[0]!;
    if (path.startsWith('/v2/keys')) {
      const key = decodeURIComponent(path.slice('/v2/keys'.length)) || '/';
      if (req.method !== 'GET') {
        // The one write a dry-run makes: the proxy-mode probe, a compare-and-swap bound to fail.
        const probe =
          req.method === 'PUT' &&
          typeof req.form?.prevValue === 'string' &&
          /^galley-never-/.test(req.form.prevValue);
        if (!probe) throw new Error(`fake etcd ${this.name}: a dry-run sent ${req.method} ${key}`);
        if (this.readOnly)
          return { status: 403, body: { errorCode: 107, message: 'This cluster is in read-only mode' } };
        return this.keys.has(key)
          ? {
              status: 412,
              body: {
                errorCode: 101,
                message: 'Compare failed',
                cause: `[${req.form!.prevValue} != x]`,
                index: this.index,
              },
            }
          : {
              status: 404,
              body: { errorCode: 100, message: 'Key not found', cause: key, index: this.index },
            };
      }
      const node = this.#node(key, req.query?.recursive === true || req.query?.recursive === 'true');
      if (!node)
        return {
          status: 404,
          body: { errorCode: 100, message: 'Key not found', cause: key, index: this.index },
        };
      return { status: 200, body: { action: 'get', node } };
    }
    if (path === '/v2/members') return { status: 200, body: { members: this.members } };
    if (path === '/v2/stats/self')
      return {
        status: 200,
        body: {
          name: self?.name ?? '',
          id: self?.id ?? '',
          state: self && self.name === this.leader ? 'StateLeader' : 'StateFollower',
          leaderInfo: {
            leader: this.members.find((m) => m.name === this.leader)?.id ?? '',
            startTime: '2026-12-01T00:00:00Z',
          },
        },
      };
    if (path === '/v2/stats/leader')
      return self && self.name === this.leader
        ? { status: 200, body: { leader: self.id, followers: {} } }
        : { status: 403, body: { message: 'not current leader' } };
    if (path === '/health')
      return this.down.size * 2 >= this.members.length
        ? { status: 503, body: { health: 'false' } }
        : { status: 200, body: { health: 'true' } };
    if (path === '/version') return { status: 200, body: { etcdserver: '3.4.23', etcdcluster: '3.4.0' } };
    throw new Error(`fake etcd ${this.name}: no answer for ${req.method} ${path}`);
  }
}

/** The transport of one client: answers from a fake cluster, as one member or as the cluster. */
class FakeEtcdTransport extends EtcdTransport {
  constructor(
    readonly cluster: FakeEtcdCluster,
    readonly as: string | undefined,
    /** The members' names, in the order of the endpoints. */
    readonly names: string[],
    endpoints: string[],
  ) {
    super({ endpoints: endpoints.map((url) => ({ url })), timeoutMs: 0 });
  }

  override only(index: number): EtcdTransport {
    const url = this.endpoints[index]?.url;
    if (!url) throw new Error(`no endpoint #${index}: this client has ${this.endpoints.length}`);
    return new FakeEtcdTransport(this.cluster, this.names[index], [this.names[index]!], [url]);
  }

  override async request(req: EtcdHttpRequest): Promise<EtcdHttpResponse> {
    await Promise.resolve();
    const endpoint =
      this.endpoints[this.as ? 0 : this.names.findIndex((n) => !this.cluster.down.has(n))]?.url ?? '';
    if (
      this.as
        ? this.cluster.down.has(this.as)
        : this.cluster.members.every((m) => this.cluster.down.has(m.name))
    )
      throw new Error(`fake etcd: ${this.as ?? this.cluster.name} does not answer (connection refused)`);
    // A client of the whole cluster talks to its first member that answers.
    const as = this.as ?? this.names.find((n) => !this.cluster.down.has(n));
    const { status, body } = this.cluster.answer(req, as);
    return { status, headers: {}, body: JSON.stringify(body), endpoint, etcdIndex: this.cluster.index };
  }

  override async stream(): Promise<never> {
    throw new Error('fake etcd: no watch streams in a dry-run');
  }
}

// ---- SSH -----------------------------------------------------------------------------------

export interface FakeHost {
  files: Map<string, string>;
  dirs: Set<string>;
  /** Units installed, and whether each is active. */
  units: Map<string, boolean>;
  /** Backups under the backup directory: name → VERIFIED content (undefined: not verified). */
  backups: Map<string, string | undefined>;
}

/** The words of a command built by argvCommand/safeCmd (POSIX single quotes, `'\''` inside). */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      word = (word ?? '') + text.slice(i + 1, end);
      i = end;
    } else if (c === '\\' && text[i + 1] === "'") {
      word = (word ?? '') + "'";
      i++;
    } else if (c === ' ') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? '') + c;
  }
  if (word !== undefined) words.push(word);
  return words;
}

// ---- the world -----------------------------------------------------------------------------

export class FakeWorld {
  readonly config = labConfig();
  readonly etcd = new Map<string, FakeEtcdCluster>();
  readonly hosts = new Map<string, FakeHost>();
  /** Record sets on every authoritative server: "NAME TYPE" → records. */
  readonly dns = new Map<string, RecordValue[]>();
  /** HTTP pages: URL → status and body (absent: connection refused). */
  readonly http = new Map<string, { status: number; body: string }>();
  /** SSH commands the fake hosts did not know (a dry-run should send none). */
  readonly unknown: string[] = [];
  readonly ssh = new FakeTransport((host, command) => this.#sshAnswer(host, command));

  constructor() {
    const t = topology;
    for (const c of t.clusters) {
      const cluster = new FakeEtcdCluster(c.datacenter, c.members);
      cluster.put('/conftool/v1/pools/eqiad/app/web1001', '{"pooled":"yes","weight":10}');
      cluster.put('/conftool/v1/pools/codfw/app/web2001', '{"pooled":"yes","weight":10}');
      cluster.readOnly = c.datacenter !== t.master;
      this.etcd.set(c.datacenter, cluster);
    }
    // The replica records the master's index it has applied.
    this.etcd.get('eqiad')!.put('/__replication/__ROOT__', String(this.etcd.get('codfw')!.index));
    for (const c of t.spareClusters) this.etcd.set(c.name, new FakeEtcdCluster(c.name, c.members, false));

    const proxy = this.config.proxy!.readOnlySwitch;
    for (const c of t.clusters) {
      for (const m of c.members) {
        const h = this.#host(m);
        h.files.set('/etc/default/etcd', renderEtcdDefault(t, m));
        h.dirs.add(this.config.etcd.clusters[c.datacenter]!.dataDir);
        h.dirs.add(`${this.config.etcd.clusters[c.datacenter]!.dataDir}/member`);
        h.units.set('etcd', true);
        h.files.set(proxy.file, c.datacenter === t.master ? proxy.readWriteContent : proxy.readOnlyContent);
      }
    }
    for (const c of t.spareClusters) {
      for (const m of c.members) {
        const h = this.#host(m);
        h.files.set('/etc/default/etcd', renderSpareEtcdDefault(c, m));
        h.dirs.add(this.config.etcd.clusters[c.name]!.dataDir);
        h.units.set('etcd', false);
      }
    }
    for (const m of t.mirrors) {
      const h = this.#host(m.host);
      h.files.set(
        `/etc/systemd/system/${m.unit}.service`,
        renderMirrorUnit(t, m, '/usr/bin/node', '/opt/galley/bin/etcdmirror.js'),
      );
      const running = m.sourceDatacenter === t.master;
      h.units.set(m.unit, running);
      const base = `http://${m.host.address}:${m.metricsPort}`;
      if (running) {
        this.http.set(`${base}/health`, { status: 200, body: 'ok\n' });
        this.http.set(`${base}/lag`, { status: 200, body: '0\n' });
      }
    }
    for (const h of t.authdns) this.#host(h).units.set('gdnsd', true);
    // Last night's backup of each cluster, on its first member.
    for (const c of t.clusters) {
      const first = this.hosts.get(c.members[0]!.name)!;
      first.backups.set(
        '20261130-020000',
        JSON.stringify({
          verifiedAt: '2026-11-30T02:00:30Z',
          keys: 3,
          digest: 'd1gest',
          host: c.members[0]!.name,
          cluster: c.datacenter,
        }),
      );
    }

    const srv = (hosts: readonly { name: string }[]): RecordValue[] =>
      hosts.map(
        (h) =>
          ({ ttl: 300, data: { priority: 0, weight: 1, port: 4001, target: `${h.name}.` } }) as RecordValue,
      );
    for (const c of t.clusters)
      this.dns.set(`${this.config.etcd.clusters[c.datacenter]!.srvRecord} SRV`, srv(c.members));
    this.dns.set(
      `${this.config.replication!.rwSrvRecord} SRV`,
      srv(t.clusters.find((c) => c.datacenter === t.master)!.members),
    );
  }

  #host(h: LabHost): FakeHost {
    let host = this.hosts.get(h.name);
    if (!host) {
      host = { files: new Map(), dirs: new Set(), units: new Map(), backups: new Map() };
      this.hosts.set(h.name, host);
    }
    return host;
  }

  #sshAnswer(hostName: string, command: string): { exitCode: number; stdout?: string; stderr?: string } {
    const h = this.hosts.get(hostName);
    const w = shellWords(command);
    const unknown = () => {
      this.unknown.push(`${hostName}: ${command}`);
      return { exitCode: 127, stderr: `fake ssh: ${hostName} does not know ${command}` };
    };
    if (!h) return unknown();
    const [p0, p1, p2, p3, p4] = w;
    if (p0 === 'systemctl' && p1 === 'is-active' && p2) {
      const active = h.units.get(p2);
      return { exitCode: active ? 0 : 3, stdout: `${active ? 'active' : 'inactive'}\n` };
    }
    if (p0 === 'systemctl' && p1 === 'show' && p2 === '-p' && p3 === 'FragmentPath' && w[5])
      return { exitCode: 0, stdout: h.units.has(w[5]) ? `/etc/systemd/system/${w[5]}.service\n` : '\n' };
    if (p0 === 'test' && p1 === '-d' && p2) return { exitCode: h.dirs.has(p2) ? 0 : 1 };
    if (p0 === 'cat' && p1) {
      const f = h.files.get(p1) ?? this.#backupFile(h, p1);
      return f === undefined
        ? { exitCode: 1, stderr: `cat: ${p1}: No such file or directory` }
        : { exitCode: 0, stdout: f };
    }
    if (p0 === 'sh' && p1 === '-c' && p3 === 'read' && p4) {
      const f = h.files.get(p4);
      return f === undefined ? { exitCode: 3 } : { exitCode: 0, stdout: f };
    }
    if (p0 === 'sh' && p1 === '-c' && p3 === 'count' && p4) {
      const n = [...h.dirs, ...h.files.keys()].filter(
        (x) => x.startsWith(`${p4}/`) && !x.slice(p4.length + 1).includes('/'),
      ).length;
      return { exitCode: 0, stdout: `${h.dirs.has(p4) ? n : 0}\n` };
    }
    if (p0 === 'sh' && p1 === '-c' && p3 === 'preflight' && p4 && w[5])
      return h.units.has(p4)
        ? { exitCode: h.files.has(w[5]) ? 0 : 1, stdout: `loaded\n${h.files.has(w[5]) ? 'ok\n' : ''}` }
        : { exitCode: 1, stdout: 'not-found\n' };
    if (p0 === 'sh' && p1 === '-c' && p3 === 'observe' && p4) {
      const n = [...h.dirs, ...h.files.keys()].filter(
        (x) => x.startsWith(`${p4}/`) && !x.slice(p4.length + 1).includes('/'),
      ).length;
      return {
        exitCode: 0,
        stdout: `${h.dirs.has(p4) ? n : 0}\n${h.files.get(`${p4}.galley-restore`) ?? ''}`,
      };
    }
    if (p0 === 'sh' && p1 === '-c' && p3 === 'list')
      return {
        exitCode: 0,
        stdout: [...h.backups].map(([name, v]) => `${name}\t${v ?? '-'}\n`).join(''),
      };
    if (p0 === 'env' && p1?.startsWith('DIRS=') && p2?.startsWith('UNITS=')) {
      const dirs = p1.slice(5).split(' ').filter(Boolean);
      const units = p2.slice(6).split(' ').filter(Boolean);
      return {
        exitCode: 0,
        stdout: [
          ...dirs.filter((d) => !h.dirs.has(d)).map((d) => `missing-dir ${d}\n`),
          ...units.map((u) => `unit ${u} ${h.units.has(u) ? 'loaded' : 'not-found'}\n`),
        ].join(''),
      };
    }
    return unknown();
  }

  #backupFile(h: FakeHost, path: string): string | undefined {
    const m = /\/(\d{8}-\d{6})\/VERIFIED$/.exec(path);
    return m ? h.backups.get(m[1]!) : undefined;
  }

  #etcdClient(cluster: string, as: string | undefined): EtcdClient {
    const c = this.etcd.get(cluster);
    if (!c) throw new Error(`fake etcd: no cluster ${cluster}`);
    const names = as ? [as] : this.config.etcd.clusters[cluster]!.members;
    const urls = names.map((n) => `http://${this.config.hosts[n]!.address}:2379`);
    const t = new FakeEtcdTransport(c, as, names, urls);
    return new EtcdClient({ endpoints: [...t.endpoints], timeoutMs: 0 }, t);
  }

  /** What the run is given instead of its real clients, by service key. */
  readonly services: ProvidedServices = (key) => {
    if (key === 'ssh') {
      const remote: Pick<Remote, 'hosts' | 'executor' | 'close'> = {
        hosts: (expr) => expr.split(','),
        executor: new RemoteExecutor(this.ssh, { dryRun: true, defaultTimeoutMs: 1000 }),
        close: async () => undefined,
      };
      return remote;
    }
    if (key === 'dns:records')
      return {
        observe: async (name: string, type: RecordType): Promise<RRsetObservation> => {
          const records = this.dns.get(`${name} ${type}`) ?? [];
          const zone = this.config.dns!.zones.wmnet!;
          return {
            name,
            type,
            zone: 'wmnet',
            servers: zone.servers.map((server) => ({ server, records, authoritative: true })),
            agree: true,
            records,
          } as unknown as RRsetObservation;
        },
      };
    if (key === 'http')
      return {
        get: async (url: string) => {
          const page = this.http.get(url);
          if (!page) throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
          return page;
        },
      };
    if (key === 'alertmanager') return { listSilences: async () => [], listAlerts: async () => [] };
    if (key === 'prometheus') return { firingAlerts: async () => [], query: async () => [] };
    // etcd clients: "etcd:CLUSTER:VIA", "etcd:CLUSTER:VIA:HOST" (one member),
    // "etcd:CLUSTER:local:without:HOST" (the others), "status:CLUSTER:HOST"
    const parts = key.split(':');
    if ((parts[0] === 'etcd' || parts[0] === 'status') && parts[1] && this.etcd.has(parts[1])) {
      const host = parts.at(-1)!;
      return this.#etcdClient(
        parts[1],
        host in this.config.hosts && !parts.includes('without') ? host : undefined,
      );
    }
    return undefined;
  };
}
