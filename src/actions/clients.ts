import { execa } from 'execa';
import type { ClientConfig, GalleyConfig } from '../config/schema.js';
import { defineAction, type ActionEnv, type Change } from '../core/action.js';
import { CheckError } from '../core/errors.js';
import { describeRecords, type RecordValue } from '../dns/index.js';
import { argvCommand } from '../ssh/command.js';
import { KnownHosts, fingerprint, knownHostsName } from '../ssh/known-hosts.js';
import { sleep, waitUntil } from '../util/wait.js';
import { readRecordSet, setRecordSet } from './dns.js';
import { mirrorUrls, waitMirrorReplicating, writeUnit } from './membership.js';
import { mutateOn, readOn, readRemoteFile, remoteOf, unitState } from './remote.js';

/**
 * The clients of an etcd cluster (clients.hosts in the config) and what a reimage does to
 * them and to its host: move the clients of a datacenter to the other cluster and back (its
 * SRV record and the restarts, in batches; the configured clients re-pointed), see who still
 * uses a member (connections to its proxy, its access log), reimage the host with the
 * configured command, and keep etcdmirror off the host meanwhile.
 */

// ---------------------------------------------------------------------------------------------
// Clients and where they are

/** What a client's status file says: its process, the etcd host it uses, whether it watches (or reads). */
export interface ClientStatus {
  pid?: number;
  etcdHost?: string;
  /** The cluster of `etcdHost` (from the config). */
  cluster?: string;
  watching: boolean;
  /** Why there is no status (no file, unreadable). */
  error?: string;
}

/** The cluster an etcd host is a configured member of. */
export function clusterOfEtcdHost(config: GalleyConfig, host: string | undefined): string | undefined {
  if (!host) return undefined;
  return Object.values(config.etcd.clusters).find((c) => c.members.includes(host))?.name;
}

/** The configured clients whose home is `datacenter`'s cluster. */
export function clientsOf(config: GalleyConfig, datacenter: string): ClientConfig[] {
  return Object.values(config.clients?.hosts ?? {}).filter((c) => c.datacenter === datacenter);
}

/** Reads a client's status file on its host (read-only). */
export async function clientStatus(
  env: ActionEnv,
  c: Pick<ClientConfig, 'host' | 'statusFile'>,
): Promise<ClientStatus> {
  const f = await readRemoteFile(env, c.host, c.statusFile);
  if (!f.exists || !f.content) return { watching: false, error: `no status file ${c.statusFile}` };
  try {
    const s = JSON.parse(f.content) as { pid?: number; etcdHost?: string; watching?: boolean };
    return {
      ...(s.pid ? { pid: s.pid } : {}),
      ...(s.etcdHost ? { etcdHost: s.etcdHost } : {}),
      ...(s.etcdHost ? { cluster: clusterOfEtcdHost(env.config(), s.etcdHost) } : {}),
      watching: s.watching === true,
    };
  } catch {
    return { watching: false, error: `${c.statusFile} is not JSON` };
  }
}

const where = (s: ClientStatus) =>
  s.etcdHost
    ? `${s.etcdHost} (${s.cluster ?? 'not a member'})${s.watching ? '' : ', NOT watching'}`
    : `nothing (${s.error ?? 'no etcd host'})`;

/** Restarts a client and waits until a new process of it watches, on `expect` (a cluster, or an etcd host). */
async function restartAndWait(
  env: ActionEnv,
  c: ClientRef,
  oldPid: number | undefined,
  expect: { cluster?: string; etcdHost?: string },
): Promise<void> {
  await mutateOn(env, c.host, argvCommand(c.restartCommand));
  let last: ClientStatus | undefined;
  try {
    await waitUntil({
      what: `${c.unit} on ${c.host} back`,
      probe: async () => (last = await clientStatus(env, c)),
      until: (s) =>
        s.pid !== undefined &&
        s.pid !== oldPid &&
        s.watching &&
        (expect.cluster === undefined || s.cluster === expect.cluster) &&
        (expect.etcdHost === undefined || s.etcdHost === expect.etcdHost),
      timeoutMs: 30_000,
      intervalMs: 200,
      signal: env.signal,
    });
  } catch (e) {
    throw new CheckError(
      `${c.unit} on ${c.host} did not come back on ${expect.etcdHost ?? expect.cluster}: it uses ${last ? where(last) : 'nothing'} (${(e as Error).message})`,
    );
  }
}

/** A client as the actions journal it. */
export interface ClientRef {
  host: string;
  unit: string;
  statusFile: string;
  restartCommand: string[];
}

const refOf = (c: ClientConfig): ClientRef => ({
  host: c.host,
  unit: c.unit,
  statusFile: c.statusFile,
  restartCommand: c.restartCommand,
});
export { refOf as clientRef };

// ---------------------------------------------------------------------------------------------
// The SRV-discovering clients of a datacenter: the record, then the restarts in batches

export interface MoveSrvClientsParams {
  datacenter: string;
  /** The datacenter's client SRV record. */
  record: string;
  /** What it should list. */
  records: RecordValue[];
  /** The cluster the clients should use once restarted. */
  toCluster: string;
  clients: ClientRef[];
  batchSize: number;
  batchSleepMs: number;
  /** How long resolvers may keep the old answer (the TTL, capped as the config says). */
  ttlWaitMs: number;
}

interface SrvClientsState {
  records: RecordValue[];
  clients: Record<string, ClientStatus>;
}

async function observeSrvClients(env: ActionEnv, p: MoveSrvClientsParams): Promise<SrvClientsState> {
  const records = await readRecordSet(env, p.record, 'SRV');
  const clients: Record<string, ClientStatus> = {};
  for (const [host, s] of await Promise.all(
    p.clients.map(async (c) => [c.host, await clientStatus(env, c)] as const),
  ))
    clients[host] = s;
  return { records, clients };
}

const canonical = (r: readonly RecordValue[]) => describeRecords('SRV', [...r]);

/** Restarts clients in batches (the runbook's `-b N -s S`), waiting for each batch to come back on `cluster`. */
async function restartInBatches(
  env: ActionEnv,
  p: Pick<MoveSrvClientsParams, 'batchSize' | 'batchSleepMs'>,
  clients: { ref: ClientRef; pid?: number }[],
  cluster: string,
): Promise<void> {
  for (let i = 0; i < clients.length; i += p.batchSize) {
    if (i > 0) await sleep(p.batchSleepMs, env.signal, 'the sleep between restart batches');
    const batch = clients.slice(i, i + p.batchSize);
    env.log.info(`restarting ${batch.map((c) => `${c.ref.unit} on ${c.ref.host}`).join(', ')}`);
    await Promise.all(batch.map((c) => restartAndWait(env, c.ref, c.pid, { cluster })));
  }
}

/**
 * Points a datacenter's client SRV record at a cluster, publishes it (verified on every
 * authoritative server), waits out the resolvers' cache, and restarts the clients that
 * discover etcd through it, in batches, until each is back and watches that cluster. Undo
 * puts the record back as it was and restarts the same clients onto their cluster again.
 * One action, because the restarts are only right after the record (and their undo only
 * after the record's undo).
 */
export const moveSrvClients = defineAction<MoveSrvClientsParams, SrvClientsState>({
  kind: 'clients.move-srv',
  describe: (p) =>
    `${p.datacenter}: point ${p.record} at ${p.toCluster} and restart ${p.clients.length} client${p.clients.length === 1 ? '' : 's'} (batches of ${p.batchSize})`,
  observe: (p, env) => observeSrvClients(env, p),
  plan(p, b) {
    const out: Change[] = [];
    if (canonical(b.records) !== canonical(p.records))
      out.push({
        subject: `${p.record} SRV`,
        from: canonical(b.records) || 'absent',
        to: canonical(p.records),
      });
    for (const c of p.clients) {
      // (b.clients is absent when a dry-run planned this record from a dns.set-rrset before it.)
      const s = b.clients?.[c.host] ?? { watching: false };
      if (s.cluster !== p.toCluster || !s.watching)
        out.push({
          subject: `${c.host} ${c.unit}`,
          from: where(s),
          to: `${p.toCluster} (restarted: it discovers ${p.record})`,
        });
    }
    return out;
  },
  async apply(p, b, env) {
    const rr = setRecordSet({ name: p.record, type: 'SRV', records: p.records });
    if (canonical(b.records) !== canonical(p.records)) {
      await rr.definition.apply(rr.params, { records: b.records }, env);
      await rr.definition.verify!(rr.params, { records: b.records }, env);
      await sleep(
        p.ttlWaitMs,
        env.signal,
        `the ${Math.round(p.ttlWaitMs / 1000)} s resolvers may cache ${p.record}`,
      );
    }
    const todo = p.clients
      .filter((c) => b.clients[c.host]?.cluster !== p.toCluster || !b.clients[c.host]?.watching)
      .map((ref) => ({ ref, pid: b.clients[ref.host]?.pid }));
    await restartInBatches(env, p, todo, p.toCluster);
  },
  async undo(p, b, env) {
    const now = await observeSrvClients(env, p);
    if (canonical(now.records) !== canonical(b.records)) {
      const rr = setRecordSet({ name: p.record, type: 'SRV', records: b.records });
      await rr.definition.apply(rr.params, { records: now.records }, env);
      await rr.definition.verify!(rr.params, { records: now.records }, env);
      await sleep(
        p.ttlWaitMs,
        env.signal,
        `the ${Math.round(p.ttlWaitMs / 1000)} s resolvers may cache ${p.record}`,
      );
    }
    const back = p.clients.filter((c) => {
      const was = b.clients[c.host];
      return was?.cluster !== undefined && now.clients[c.host]?.cluster !== was.cluster;
    });
    for (const cluster of new Set(back.map((c) => b.clients[c.host]!.cluster!)))
      await restartInBatches(
        env,
        p,
        back
          .filter((c) => b.clients[c.host]!.cluster === cluster)
          .map((ref) => ({ ref, pid: now.clients[ref.host]?.pid })),
        cluster,
      );
  },
  // The record it changes (as dns.set-rrset does, with more state): a dry-run plans a later
  // change of the record at run time, and a resume re-observes only its last writer.
  resource: (p) => `dns:${p.record}:SRV`,
  comparable: (s) => ({
    records: canonical(s.records),
    clients: Object.fromEntries(
      Object.entries(s.clients).map(([h, c]) => [h, `${c.cluster ?? '-'} ${c.watching}`]),
    ),
  }),
  verifyTimeoutMs: 30_000,
});

// ---------------------------------------------------------------------------------------------
// A client whose etcd host comes from its config file

export interface RepointClientParams extends ClientRef {
  repointCommand: string[];
  /** The etcd host it should use. */
  to: string;
}

/**
 * Points a configured client at another etcd host (its repoint command, the host appended) and
 * restarts it, until it is back and watches that host. Undo points it back where it was.
 */
export const repointClient = defineAction<RepointClientParams, ClientStatus>({
  kind: 'clients.repoint',
  describe: (p) => `${p.host}: point ${p.unit} at ${p.to} and restart it`,
  observe: (p, env) => clientStatus(env, p),
  plan: (p, b) =>
    b.etcdHost === p.to && b.watching
      ? []
      : [{ subject: `${p.host} ${p.unit}`, from: where(b), to: `${p.to} (re-pointed, restarted)` }],
  async apply(p, b, env) {
    await mutateOn(env, p.host, argvCommand([...p.repointCommand, p.to]));
    await restartAndWait(env, p, b.pid, { etcdHost: p.to });
  },
  async undo(p, b, env) {
    if (!b.etcdHost) return;
    const now = await clientStatus(env, p);
    await mutateOn(env, p.host, argvCommand([...p.repointCommand, b.etcdHost]));
    await restartAndWait(env, p, now.pid, { etcdHost: b.etcdHost });
  },
  comparable: (s) => `${s.etcdHost ?? '-'} ${s.watching}`,
  verifyTimeoutMs: 30_000,
});

// ---------------------------------------------------------------------------------------------
// etcdmirror: the members it reads from and writes into

export interface MirrorEndpointsParams {
  /** The datacenter it replicates into (replication.mirrors key). */
  datacenter: string;
  host: string;
  unit: string;
  file: string;
  /** The source and destination URL lists (comma-separated) it should have. */
  source: string;
  destination: string;
  /** Why (for the summary): the member it must keep off ('' when it gets its members back). */
  without: string;
}

interface MirrorEndpointsState {
  exists: boolean;
  source?: string;
  destination?: string;
  active: boolean;
  content?: string;
}

async function observeMirrorEndpoints(
  env: ActionEnv,
  p: MirrorEndpointsParams,
): Promise<MirrorEndpointsState> {
  const f = await readRemoteFile(env, p.host, p.file);
  const active = (await unitState(env, p.host, p.unit)) === 'active';
  if (!f.exists) return { exists: false, active };
  const urls = mirrorUrls(/^ExecStart=(.*)$/m.exec(f.content ?? '')?.[1] ?? '');
  return { exists: true, active, content: f.content, ...(urls ?? {}) };
}

/** A unit file with its etcdmirror source and destination URL words replaced. */
export function withMirrorEndpoints(content: string, source: string, destination: string): string {
  return content.replace(/^ExecStart=(.*)$/m, (_l, exec: string) => {
    const words = exec.split(' ');
    const at = words.map((w, i) => [w, i] as const).filter(([w]) => /^https?:\/\//.test(w));
    const s = at[at.length - 2]?.[1];
    const d = at[at.length - 1]?.[1];
    if (s !== undefined) words[s] = source;
    if (d !== undefined) words[d] = destination;
    return `ExecStart=${words.join(' ')}`;
  });
}

/** A comma-separated list of member URLs without the ones of `host` (its name or address). */
export function urlsWithout(config: GalleyConfig, list: string, host: string): string {
  const address = config.hosts[host]?.address;
  return list
    .split(',')
    .filter((u) => {
      try {
        const h = new URL(u).hostname;
        return h !== host && h !== address;
      } catch {
        return true;
      }
    })
    .join(',');
}

/**
 * Sets the members an etcdmirror unit reads from and writes into (its unit file's two URL
 * lists), restarting it if it runs (it resumes from the index it recorded), verified
 * replicating again. Undo puts the lists back.
 */
export const setMirrorEndpoints = defineAction<MirrorEndpointsParams, MirrorEndpointsState>({
  kind: 'replication.mirror-endpoints',
  describe: (p) =>
    p.without ? `${p.host}: keep ${p.unit} off ${p.without}` : `${p.host}: give ${p.unit} its members back`,
  observe: (p, env) => observeMirrorEndpoints(env, p),
  plan(p, b) {
    const out: Change[] = [];
    if (b.source !== p.source)
      out.push({
        subject: `${p.host} ${p.unit} source`,
        from: b.source ?? 'absent',
        to: `${p.source}${b.active ? ' (restarted)' : ''}`,
      });
    if (b.destination !== p.destination)
      out.push({
        subject: `${p.host} ${p.unit} destination`,
        from: b.destination ?? 'absent',
        to: p.destination,
      });
    return out;
  },
  async apply(p, b, env) {
    if (!b.exists || b.content === undefined) throw new CheckError(`${p.host}:${p.file} does not exist`);
    await writeUnit(env, p.host, p.file, withMirrorEndpoints(b.content, p.source, p.destination));
    if (b.active) await mutateOn(env, p.host, argvCommand(['systemctl', 'restart', p.unit]));
  },
  async verify(p, b, env) {
    const now = await observeMirrorEndpoints(env, p);
    if (now.source !== p.source || now.destination !== p.destination)
      throw new CheckError(`${p.host}:${p.file}: ${p.unit} has ${now.source} → ${now.destination}`);
    if (b.active) await waitMirrorReplicating(env, p.datacenter);
  },
  async undo(p, b, env) {
    const now = await observeMirrorEndpoints(env, p);
    if (now.content === undefined || b.source === undefined || b.destination === undefined) return;
    await writeUnit(env, p.host, p.file, withMirrorEndpoints(now.content, b.source, b.destination));
    if (b.active) await mutateOn(env, p.host, argvCommand(['systemctl', 'restart', p.unit]));
  },
  async verifyUndo(p, b, env) {
    const now = await observeMirrorEndpoints(env, p);
    if (now.source !== b.source || now.destination !== b.destination)
      throw new CheckError(`${p.host}:${p.file}: ${p.unit} has ${now.source} → ${now.destination}`);
    if (b.active) await waitMirrorReplicating(env, p.datacenter);
  },
  comparable: (s) => `${s.source} ${s.destination} ${s.active}`,
  verifyTimeoutMs: 30_000,
});

// ---------------------------------------------------------------------------------------------
// Who still uses a member

export interface HostUse {
  /** Established connections to the host's proxy port, by peer. */
  connections: { address: string; name?: string }[];
  /** Requests in the proxy's access log in the last `quietMs`, by peer. */
  recent: { address: string; name?: string; count: number; last: string }[];
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The time of an nginx access log line (`[01/Dec/2026:23:10:27 +0000]`), in ms, or undefined. */
export function accessLogTime(line: string): number | undefined {
  const m = /\[(\d{2})\/(\w{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})\]/.exec(line);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[2]!);
  if (month < 0) return undefined;
  const utc = Date.UTC(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  const offset = (Number(m[8]) * 60 + Number(m[9])) * 60_000 * (m[7] === '+' ? 1 : -1);
  return utc - offset;
}

/**
 * Who uses etcd on HOST now: established connections to its proxy port and requests in its
 * proxy's access log in the last `quietMs`, each peer named from the inventory. The operator
 * host's own connections (127.0.0.1: this run's lock and checks) are left out. Read-only.
 */
export async function hostUse(env: ActionEnv, host: string, o: { quietMs: number }): Promise<HostUse> {
  const config = env.config();
  const h = config.hosts[host];
  const cluster = clusterOfEtcdHost(config, host);
  if (!h || !cluster) throw new CheckError(`${host} is not a member of any etcd cluster of the config`);
  const port = config.etcd.clusters[cluster]!.proxyPort;
  const log = config.proxy?.accessLog ?? '/var/log/nginx/etcd-access.log';
  const r = await readOn(
    env,
    host,
    argvCommand(
      [
        'sh',
        '-c',
        'ss -Htn state established "( sport = :$1 )"; echo "--- access log"; tail -n 2000 "$2" 2>/dev/null || true',
        'uses',
        String(port),
        log,
      ],
      { isSafe: true },
    ),
  );
  const [ss = '', access = ''] = r.stdout.split('--- access log\n');
  const nameOf = (address: string) => Object.values(config.hosts).find((x) => x.address === address)?.name;
  const operator = (a: string) => a === '127.0.0.1';
  const connections: HostUse['connections'] = [];
  for (const line of ss.split('\n').filter(Boolean)) {
    const [, , local, peer] = line.trim().split(/\s+/);
    const localAddress = local?.replace(/:\d+$/, '');
    const peerAddress = peer?.replace(/:\d+$/, '');
    if (!peerAddress || localAddress !== h.address || operator(peerAddress)) continue;
    if (!connections.some((c) => c.address === peerAddress))
      connections.push({
        address: peerAddress,
        ...(nameOf(peerAddress) ? { name: nameOf(peerAddress) } : {}),
      });
  }
  const since = Date.now() - o.quietMs;
  const recent = new Map<string, HostUse['recent'][number]>();
  for (const line of access.split('\n').filter(Boolean)) {
    const address = line.split(' ')[0]!;
    const t = accessLogTime(line);
    if (operator(address) || t === undefined || t < since) continue;
    const e = recent.get(address) ?? {
      address,
      ...(nameOf(address) ? { name: nameOf(address) } : {}),
      count: 0,
      last: '',
    };
    e.count++;
    e.last = new Date(t).toISOString();
    recent.set(address, e);
  }
  return { connections, recent: [...recent.values()] };
}

/** One line naming who uses the host. */
export function describeUse(u: HostUse): string {
  const name = (x: { address: string; name?: string }) => (x.name ? `${x.name} (${x.address})` : x.address);
  const parts: string[] = [];
  if (u.connections.length) parts.push(`connected: ${u.connections.map(name).join(', ')}`);
  if (u.recent.length)
    parts.push(
      `recent requests: ${u.recent.map((x) => `${name(x)} ×${x.count}, last ${x.last}`).join(', ')}`,
    );
  return parts.join('; ') || 'nobody';
}

// ---------------------------------------------------------------------------------------------
// The reimage, and the host key it gives the host

/** The fingerprint of HOST's key in the trusted source of host keys (ssh.host_key_source). */
export function trustedHostKey(config: GalleyConfig, host: string): string {
  const source = config.ssh.hostKeySource;
  if (!source)
    throw new CheckError(
      `ssh.host_key_source is not set in ${config.file}: a reimaged host's new key could not be learned from a trusted source`,
      { suggestions: ['name the known_hosts file your reimage tooling publishes (ssh.host_key_source)'] },
    );
  const h = config.hosts[host]!;
  const keys = KnownHosts.load(source).keysFor([
    knownHostsName(host, h.sshPort),
    knownHostsName(h.address, h.sshPort),
  ]);
  if (!keys.length) throw new CheckError(`the trusted source of host keys ${source} has no key for ${host}`);
  return fingerprint(keys[keys.length - 1]!.key);
}

export interface ReimageParams {
  host: string;
  /** The command, the host appended (reimage.command). */
  command: string[];
  timeoutMs: number;
  /** The host's key in the trusted source before the reimage: a different one means it was reimaged. */
  fromKey: string;
}

/**
 * Reimages a host with the configured command (production: the site's reimage cookbook;
 * the lab: `cookbook lab reimage`), then waits until the trusted source publishes its new host
 * key and the host answers over SSH with it (the transport learns it from there only).
 * Irreversible.
 */
export const reimageHost = defineAction<ReimageParams, { key: string }>({
  kind: 'host.reimage',
  describe: (p) => `${p.host}: reimage (${p.command.join(' ')})`,
  irreversibleBecause: 'the host is reinstalled: its data, its state and its old host key are gone',
  observe: async (p, env) => ({ key: trustedHostKey(env.config(), p.host) }),
  plan: (p, b) =>
    b.key === p.fromKey
      ? [
          {
            subject: p.host,
            from: `installed (host key ${p.fromKey})`,
            to: 'reimaged: every service stopped, its state and data wiped, a new host key',
          },
        ]
      : [],
  async apply(p, _b, env) {
    const [file, ...args] = p.command;
    const r = await execa(file!, args, { reject: false, timeout: p.timeoutMs, cancelSignal: env.signal });
    if (r.exitCode !== 0)
      throw new CheckError(
        `the reimage command failed (exit ${r.exitCode ?? r.signal}): ${`${r.stderr}`.trim().split('\n').slice(-3).join(' / ')}`,
      );
  },
  async verify(p, _b, env) {
    const key = trustedHostKey(env.config(), p.host);
    if (key === p.fromKey) throw new CheckError(`the trusted source still has the old key of ${p.host}`);
  },
  verifyTimeoutMs: 30_000,
});

/** A host's names in known_hosts (its name and address, on its SSH port). */
function keyNames(config: GalleyConfig, host: string): string[] {
  const h = config.hosts[host]!;
  return [knownHostsName(host, h.sshPort), knownHostsName(h.address, h.sshPort)];
}

interface HostKeysState {
  /** known_hosts' keys for the host (`TYPE BASE64`), and their fingerprints. */
  known: string[];
  fingerprints: string[];
  /** What the trusted source has for it. */
  trusted: string[];
}

function observeHostKeys(env: ActionEnv, host: string): HostKeysState {
  const config = env.config();
  const names = keyNames(config, host);
  const kh = KnownHosts.load(config.ssh.knownHosts, config.ssh.hostKeySource);
  const known = kh.keysFor(names);
  return {
    known: known.map((e) => `${e.keyType} ${e.key.toString('base64')}`),
    fingerprints: known.map((e) => fingerprint(e.key)).sort(),
    trusted: config.ssh.hostKeySource
      ? kh
          .trustedKeys(names)
          .map((e) => fingerprint(e.key))
          .sort()
      : [],
  };
}

/** The run's known hosts (the transport's), so that what is learned applies to this run's connections too. */
function runKnownHosts(env: ActionEnv): KnownHosts {
  const config = env.config();
  return remoteOf(env).knownHosts ?? KnownHosts.load(config.ssh.knownHosts, config.ssh.hostKeySource);
}

/**
 * Learns a reimaged host's new key from the trusted source (ssh.host_key_source), and from
 * there only, never from what the host presents; verified by the host answering over SSH with
 * it (the transport refuses a host presenting any other key). Undo puts the old key back in
 * known_hosts (the host then fails its host key check, as a host with an unknown new key must).
 */
export const learnHostKey = defineAction<{ host: string }, HostKeysState>({
  kind: 'ssh.learn-host-key',
  describe: (p) => `${p.host}: learn its new host key from the trusted source`,
  observe: async (p, env) => observeHostKeys(env, p.host),
  plan: (p, b) =>
    b.trusted.length && JSON.stringify(b.fingerprints) !== JSON.stringify(b.trusted)
      ? [
          {
            subject: `${p.host} host key (known_hosts)`,
            from: b.fingerprints.join(', ') || 'none',
            to: b.trusted.join(', '),
          },
        ]
      : [],
  async apply(p, _b, env) {
    runKnownHosts(env).learnFromTrusted(p.host, keyNames(env.config(), p.host));
  },
  async verify(p, _b, env) {
    const now = observeHostKeys(env, p.host);
    if (JSON.stringify(now.fingerprints) !== JSON.stringify(now.trusted))
      throw new CheckError(
        `known_hosts has ${now.fingerprints.join(', ')} for ${p.host}, the trusted source ${now.trusted.join(', ')}`,
      );
    await readOn(env, p.host, argvCommand(['true'], { isSafe: true }));
  },
  async undo(p, b, env) {
    runKnownHosts(env).replaceHostKeys(keyNames(env.config(), p.host), b.known);
  },
  comparable: (s) => s.fingerprints,
  verifyTimeoutMs: 30_000,
});
