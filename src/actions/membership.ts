import type { EtcdClusterConfig, GalleyConfig } from '../config/schema.js';
import { defineAction, ordered, type ActionEnv, type AnyAction } from '../core/action.js';
import { check, step, type ArgContext, type LockSpec, type SafeState, type Step } from '../core/cookbook.js';
import { CheckError, GuardError } from '../core/errors.js';
import { observeRRset, zoneFor, type RecordValue } from '../dns/index.js';
import { replicationStatus } from '../inspect/etcd.js';
import { argvCommand } from '../ssh/command.js';
import { waitUntil } from '../util/wait.js';
import { setRecordSet } from './dns.js';
import {
  addMember,
  clusterHealth,
  describeHealth,
  majorityOf,
  moveLeader,
  peerUrlOf,
  readMembers,
  removeMember,
  type ClusterHealth,
} from './etcd.js';
import { mutateOn, readOn, readRemoteFile, unitState, wipeDirectory, writeRemoteFile } from './remote.js';

/**
 * Membership of the etcd clusters: the building blocks of etcd.member-add and
 * etcd.member-remove, and of every cookbook that changes a cluster's members or its
 * clients (reimage, bootstrap, disaster recovery):
 *
 * - {@link membershipLock}: the one lock per cluster they all share;
 * - {@link addMemberSteps} / {@link removeMemberSteps}: the steps "add member HOST to its
 *   cluster" and "remove member HOST", each with its pre-flight, safe against quorum loss,
 *   re-runnable (a member already there, or already gone, plans nothing);
 * - {@link membershipSafeState}: what must hold at every end of such a run;
 * - the actions and read-only helpers they are made of.
 */

// ---------------------------------------------------------------------------------------------
// Where a host belongs, the lock

/** The etcd cluster a host is configured in. */
export function clusterOfHost(env: ArgContext, host: string): string {
  const config = env.config();
  const c = Object.values(config.etcd.clusters).find((x) => x.members.includes(host));
  if (!c)
    throw new CheckError(
      `${host} is not configured as a member of any etcd cluster (etcd.clusters.*.members in ${config.file})`,
    );
  return c.name;
}

/** Where a host belongs as an etcd member: its cluster's name and config, and its peer URL. */
export function memberOf(
  env: ActionEnv,
  host: string,
): { cluster: string; config: EtcdClusterConfig; peerUrl: string } {
  const cluster = clusterOfHost(env, host);
  return { cluster, config: env.config().etcd.clusters[cluster]!, peerUrl: peerUrlOf(env, cluster, host) };
}

/**
 * The lock of every run that changes a cluster's membership or its clients (member-add,
 * member-remove, reimage, bootstrap, disaster recovery): one per cluster, so that two such
 * runs on one cluster never both pass their pre-flight.
 */
export const membershipLock = (cluster: string): LockSpec => ({ name: `etcd.membership:${cluster}` });

/** The membership lock of the cluster HOST is configured in. */
export const membershipLockOfHost = (ctx: ArgContext, host: string): LockSpec =>
  membershipLock(clusterOfHost(ctx, host));

// ---------------------------------------------------------------------------------------------
// Health, quorum, the minimum size

export { clusterHealth, describeHealth, majorityOf, type ClusterHealth, type MemberHealth } from './etcd.js';

/** The fewest members a change may leave in a cluster (etcd.clusters.X.min_members, default a majority of the configured members). */
export function minimumSize(config: GalleyConfig, cluster: string): number {
  const c = config.etcd.clusters[cluster]!;
  return c.minMembers;
}

/** Fails unless every current member answers healthy and there is one leader; says who leads. */
export async function checkClusterHealthy(
  env: ActionEnv,
  cluster: string,
  expectMembers?: number,
): Promise<string> {
  return assertHealthy(await clusterHealth(env, cluster), expectMembers);
}

/** The structured form of {@link checkClusterHealthy}. */
export function assertHealthy(h: ClusterHealth, expectMembers?: number): string {
  if (expectMembers !== undefined && h.size !== expectMembers) {
    throw new CheckError(
      `${h.cluster} has ${h.size} members, expected ${expectMembers}: ${describeHealth(h)}`,
    );
  }
  const unhealthy = h.members.filter((m) => !m.healthy);
  if (unhealthy.length)
    throw new CheckError(
      `${h.cluster} is not healthy: ${unhealthy.map((m) => `${m.host ?? (m.name || m.id)} ${m.error ?? 'unhealthy'}`).join('; ')} (${describeHealth(h)})`,
    );
  if (!h.leader) throw new CheckError(`${h.cluster} has no leader (${describeHealth(h)})`);
  return describeHealth(h);
}

const memberHealthOf = (h: ClusterHealth, peerUrl: string) =>
  h.members.find((m) => m.peerURLs.includes(peerUrl));

/**
 * Whether removing HOST is allowed: never the last member, never while the cluster has no
 * quorum; below the minimum size, or leaving too few healthy members for a quorum, only with
 * `allowBelowMinimum`. Returns the lines for the operator (warnings included).
 */
export function removalVerdict(
  h: ClusterHealth,
  host: string,
  peerUrl: string,
  o: { minimum: number; allowBelowMinimum: boolean },
): string[] {
  const me = memberHealthOf(h, peerUrl);
  if (!me) return [`${host} is not a member of ${h.cluster}: already removed (${describeHealth(h)})`];
  if (h.size === 1)
    throw new CheckError(`${host} is the only member of ${h.cluster}: removing it would destroy the cluster`);
  if (!h.quorum)
    throw new CheckError(`${h.cluster} has no quorum: no member can be removed (${describeHealth(h)})`, {
      suggestions: ['bring its members back, or recover it (etcd.disaster-recovery)'],
    });
  const lines = [describeHealth(h)];
  const after = h.size - 1;
  const healthyAfter = h.healthy - (me.healthy ? 1 : 0);
  const problems: string[] = [];
  if (after < o.minimum)
    problems.push(
      `removing ${host} leaves ${after} member${after === 1 ? '' : 's'}, below the minimum of ${o.minimum} for ${h.cluster} (etcd.clusters.${h.cluster}.min_members)`,
    );
  if (healthyAfter < majorityOf(after))
    problems.push(
      `removing ${host} leaves ${healthyAfter} healthy of ${after} members: no quorum (${majorityOf(after)} needed)`,
    );
  if (problems.length && !o.allowBelowMinimum) {
    throw new CheckError(`refused: ${problems.join('; ')}`, {
      suggestions: [
        `add a member first (cookbook etcd.member-add), or pass --allow-below-minimum and confirm if you accept it`,
      ],
    });
  }
  for (const p of problems) lines.push(`WARNING (--allow-below-minimum): ${p}`);
  return lines;
}

/**
 * Whether adding HOST is allowed (the cluster must have its quorum) and the warning when the
 * add puts the quorum at risk: until the new member has started, a cluster of 1 or 2 members
 * needs every member it has (1 → 2 has no quorum at all until it starts).
 */
export function additionVerdict(h: ClusterHealth, host: string, peerUrl: string): string[] {
  const me = memberHealthOf(h, peerUrl);
  if (me?.started) return [`${host} is already a member of ${h.cluster} (${describeHealth(h)})`];
  if (!h.quorum)
    throw new CheckError(`${h.cluster} has no quorum: no member can be added (${describeHealth(h)})`, {
      suggestions: ['bring its members back, or recover it (etcd.disaster-recovery)'],
    });
  const lines = [describeHealth(h)];
  const size = me ? h.size : h.size + 1;
  const healthy = h.members.filter((m) => m.healthy).length;
  if (h.size <= 2 || healthy - majorityOf(size) < 1) {
    const spare = healthy - majorityOf(size);
    lines.push(
      spare < 0
        ? `WARNING: with ${host} added, ${h.cluster} has ${size} members and needs ${majorityOf(size)}: it has NO quorum until ${host} has started`
        : `WARNING: with ${host} added, ${h.cluster} needs ${majorityOf(size)} of ${size} members: until ${host} has started, losing any member loses the quorum`,
    );
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Pre-flight of the hosts a run touches

export interface PreflightTarget {
  host: string;
  /** A unit that must be installed on it. */
  unit?: string;
  /** A directory that must exist on it. */
  dir?: string;
  /** Why the run touches it, for the messages. */
  why: string;
}

/**
 * Checks, before the first change, that every host a run touches answers over SSH with the
 * host key known_hosts has for it, that its units are installed and its directories exist.
 * Every failing host is named, with the reason (a changed host key, a missing unit…).
 */
export async function preflightHosts(env: ActionEnv, targets: PreflightTarget[]): Promise<string> {
  const byHost = new Map<string, PreflightTarget[]>();
  for (const t of targets) byHost.set(t.host, [...(byHost.get(t.host) ?? []), t]);
  const problems: string[] = [];
  await Promise.all(
    [...byHost.entries()].map(async ([host, ts]) => {
      const units = [...new Set(ts.flatMap((t) => (t.unit ? [t.unit] : [])))];
      const dirs = [...new Set(ts.flatMap((t) => (t.dir ? [t.dir] : [])))];
      // One round trip per host: each missing directory and the load state of each unit.
      const script =
        'for d in $DIRS; do [ -d "$d" ] || echo "missing-dir $d"; done; for u in $UNITS; do echo "unit $u $(systemctl show -p LoadState --value "$u" 2>/dev/null || echo not-found)"; done';
      try {
        const r = await readOn(
          env,
          host,
          argvCommand(['env', `DIRS=${dirs.join(' ')}`, `UNITS=${units.join(' ')}`, 'sh', '-c', script], {
            isSafe: true,
          }),
        );
        for (const line of r.stdout.split('\n').filter(Boolean)) {
          const [what, name, state] = line.split(' ');
          if (what === 'missing-dir') problems.push(`${host}: directory ${name} does not exist`);
          else if (what === 'unit' && state !== 'loaded')
            problems.push(`${host}: unit ${name} is not installed (${state || 'not-found'})`);
        }
      } catch (e) {
        problems.push(`${host} (${ts.map((t) => t.why).join(', ')}): ${(e as Error).message}`);
      }
    }),
  );
  if (problems.length) throw new CheckError(`pre-flight failed, nothing was changed: ${problems.join('; ')}`);
  return `pre-flight: ${[...byHost.entries()].map(([h, ts]) => `${h} (${ts.map((t) => t.why).join(', ')})`).join(', ')}: SSH with the known host key, units and directories present`;
}

/** The host that publishes a DNS name's zone over SSH (zonefile backend), if any. */
function zoneHostOf(config: GalleyConfig, name: string): string | undefined {
  const zone = zoneFor(config, name);
  return zone.backend.type === 'zonefile' ? zone.backend.host : undefined;
}

// ---------------------------------------------------------------------------------------------
// SRV records

/** The SRV records that should list the members of `cluster`: its own, and the read-write (conftool) one when it is the master's. */
export function srvRecordsOf(config: GalleyConfig, cluster: string): string[] {
  const c = config.etcd.clusters[cluster]!;
  const rw =
    config.replication && config.replication.master === c.datacenter ? [config.replication.rwSrvRecord] : [];
  return [c.srvRecord, ...rw];
}

/** Every SRV record of the config (each cluster's and the read-write one), with the cluster whose members it may list. */
function configuredSrvRecords(config: GalleyConfig): { name: string; cluster: string }[] {
  const out = new Map<string, string>();
  for (const c of Object.values(config.etcd.clusters))
    for (const name of srvRecordsOf(config, c.name)) out.set(name, c.name);
  if (config.replication && !out.has(config.replication.rwSrvRecord)) {
    const master = Object.values(config.etcd.clusters).find(
      (c) => c.datacenter === config.replication!.master,
    );
    if (master) out.set(config.replication.rwSrvRecord, master.name);
  }
  return [...out.entries()].map(([name, cluster]) => ({ name, cluster }));
}

const targetOf = (r: RecordValue) =>
  typeof r.data === 'object' && 'target' in r.data ? String(r.data.target).replace(/\.$/, '') : undefined;

async function srvRecords(env: ActionEnv, name: string): Promise<RecordValue[]> {
  return (await observeRRset(env.config(), name, 'SRV')).records ?? [];
}

/** The SRV records that list HOST now. */
async function srvRecordsListing(
  env: ActionEnv,
  host: string,
): Promise<{ name: string; records: RecordValue[] }[]> {
  const all = await Promise.all(
    configuredSrvRecords(env.config()).map(async ({ name }) => ({
      name,
      records: await srvRecords(env, name),
    })),
  );
  return all.filter((r) => r.records.some((x) => targetOf(x) === host));
}

// ---------------------------------------------------------------------------------------------
// Replication (etcdmirror)

/** An etcdmirror unit of the config, as its unit file says it runs. */
export interface MirrorUse {
  datacenter: string;
  /** Where it runs. */
  host: string;
  unit: string;
  /** Its unit file on `host`. */
  file: string;
  active: boolean;
  source: { url: string; host?: string };
  destination: { url: string; host?: string };
}

function hostOfUrl(config: GalleyConfig, url: string): string | undefined {
  let hostname: string;
  try {
    hostname = new URL(url).hostname;
  } catch {
    return undefined;
  }
  return Object.values(config.hosts).find((h) => h.name === hostname || h.address === hostname)?.name;
}

/** The source and destination URLs of an etcdmirror command line: its two positional URLs. */
export function mirrorUrls(execStart: string): { source: string; destination: string } | undefined {
  const urls = execStart.split(/\s+/).filter((w) => /^https?:\/\//.test(w));
  return urls.length >= 2
    ? { source: urls[urls.length - 2]!, destination: urls[urls.length - 1]! }
    : undefined;
}

async function unitFileOf(env: ActionEnv, host: string, unit: string): Promise<string> {
  const r = await readOn(
    env,
    host,
    argvCommand(['systemctl', 'show', '-p', 'FragmentPath', '--value', unit], { isSafe: true }),
    { allowExit: [1, 4, 5] },
  );
  const path = r.stdout.trim();
  return path && path.startsWith('/')
    ? path
    : `/etc/systemd/system/${unit.replace(/\.service$/, '')}.service`;
}

/** Every configured etcdmirror unit: where it runs, whether it runs, what it reads from and writes into (from its unit file). */
export async function mirrorUses(env: ActionEnv): Promise<MirrorUse[]> {
  const config = env.config();
  const mirrors = Object.entries(config.replication?.mirrors ?? {});
  return Promise.all(
    mirrors.map(async ([datacenter, m]) => {
      const file = await unitFileOf(env, m.host, m.unit);
      const content = (await readRemoteFile(env, m.host, file)).content;
      if (content === undefined)
        throw new CheckError(
          `${m.host}: the unit file ${file} of ${m.unit} does not exist (replication.mirrors.${datacenter})`,
        );
      const execStart = /^ExecStart=(.*)$/m.exec(content)?.[1] ?? '';
      const urls = mirrorUrls(execStart);
      if (!urls)
        throw new CheckError(
          `${m.host}:${file}: cannot tell what ${m.unit} replicates from and into (ExecStart has no source and destination URLs)`,
        );
      const active = (await unitState(env, m.host, m.unit)) === 'active';
      return {
        datacenter,
        host: m.host,
        unit: m.unit,
        file,
        active,
        // A mirror may read from a list of members (it fails over): the first is the one it reads from.
        source: { url: urls.source.split(',')[0]!, host: hostOfUrl(config, urls.source.split(',')[0]!) },
        destination: { url: urls.destination, host: hostOfUrl(config, urls.destination) },
      };
    }),
  );
}

/** `url` with its host replaced by `host`'s address (same scheme and port). */
function urlFor(config: GalleyConfig, url: string, host: string): string {
  const u = new URL(url);
  const by = /^\d+\.\d+\.\d+\.\d+$/.test(u.hostname) ? config.hosts[host]!.address : host;
  return `${u.protocol}//${by}${u.port ? `:${u.port}` : ''}${u.pathname === '/' && !url.endsWith('/') ? '' : u.pathname}`;
}

interface MirrorSourceState {
  exists: boolean;
  source?: string;
  active: boolean;
  content?: string;
}

async function observeMirror(
  env: ActionEnv,
  p: { host: string; file: string; unit: string },
): Promise<MirrorSourceState> {
  const f = await readRemoteFile(env, p.host, p.file);
  const active = (await unitState(env, p.host, p.unit)) === 'active';
  if (!f.exists) return { exists: false, active };
  const execStart = /^ExecStart=(.*)$/m.exec(f.content ?? '')?.[1] ?? '';
  return { exists: true, source: mirrorUrls(execStart)?.source, active, content: f.content };
}

const writeUnit = (env: ActionEnv, host: string, path: string, content: string) =>
  mutateOn(
    env,
    host,
    argvCommand([
      'sh',
      '-c',
      'cat > "$1.galley.tmp" && mv "$1.galley.tmp" "$1" && systemctl daemon-reload',
      'write',
      path,
    ]),
    { stdin: content },
  );

/** A unit file with the source URL of its etcdmirror ExecStart replaced (only if it is `from`). */
export function withMirrorSource(content: string, from: string, to: string): string {
  return content.replace(/^ExecStart=(.*)$/m, (_l, exec: string) => {
    const words = exec.split(' ');
    const urls = words.map((w, i) => [w, i] as const).filter(([w]) => /^https?:\/\//.test(w));
    const i = urls[urls.length - 2]?.[1];
    if (i !== undefined && words[i] === from) words[i] = to;
    return `ExecStart=${words.join(' ')}`;
  });
}

async function waitMirrorReplicating(env: ActionEnv, datacenter: string): Promise<void> {
  await waitUntil({
    what: `etcdmirror into ${datacenter} replicates`,
    probe: async () =>
      (await replicationStatus(env.config()))?.mirrors.find((m) => m.datacenter === datacenter),
    until: (m) => m?.running === true,
    timeoutMs: 20_000,
    intervalMs: 200,
    signal: env.signal,
  });
}

export interface RepointParams {
  /** The datacenter the mirror replicates into (replication.mirrors key). */
  datacenter: string;
  host: string;
  unit: string;
  file: string;
  /** The source cluster, and the members read from before and after. */
  sourceCluster: string;
  from: string;
  fromHost: string;
  to: string;
  toHost: string;
}

/**
 * Points an etcdmirror unit at another member of its source cluster (its unit file's source
 * URL), and restarts it if it runs: it resumes from the index it recorded, as after any
 * restart. Verified replicating again. Undo points it back, unless the member it read from is
 * no longer a healthy member (then replication would stop: the guard refuses).
 */
export const repointMirror = defineAction<RepointParams, MirrorSourceState>({
  kind: 'replication.repoint-mirror',
  describe: (p) => `${p.host}: point ${p.unit} at ${p.toHost} instead of ${p.fromHost}`,
  observe: (p, env) => observeMirror(env, p),
  plan: (p, b) =>
    b.source === p.to
      ? []
      : [
          {
            subject: `${p.host} ${p.unit} source`,
            from: b.source ?? 'absent',
            to: `${p.to}${b.active ? ' (restarted)' : ''}`,
          },
        ],
  async apply(p, b, env) {
    if (!b.exists || b.content === undefined) throw new CheckError(`${p.host}:${p.file} does not exist`);
    if (b.source !== p.from)
      throw new CheckError(
        `${p.host}:${p.file}: ${p.unit} reads from ${b.source}, not ${p.from}: changed since it was planned`,
      );
    await writeUnit(env, p.host, p.file, withMirrorSource(b.content, p.from, p.to));
    if (b.active) await mutateOn(env, p.host, argvCommand(['systemctl', 'restart', p.unit]));
  },
  async verify(p, b, env) {
    const now = await observeMirror(env, p);
    if (now.source !== p.to)
      throw new CheckError(`${p.host}:${p.file}: ${p.unit} reads from ${now.source}, expected ${p.to}`);
    if (b.active) await waitMirrorReplicating(env, p.datacenter);
  },
  async guardUndo(p, _b, env) {
    const h = await clusterHealth(env, p.sourceCluster);
    const back = h.members.find((m) => m.host === p.fromHost);
    if (!back?.healthy) {
      throw new GuardError(
        `${p.unit} stays pointed at ${p.toHost}: ${p.fromHost} is no longer a healthy member of ${p.sourceCluster}, replication would stop`,
      );
    }
  },
  async undo(p, b, env) {
    const now = await observeMirror(env, p);
    if (now.source === p.from) return;
    if (now.content === undefined) throw new CheckError(`${p.host}:${p.file} does not exist`);
    await writeUnit(env, p.host, p.file, withMirrorSource(now.content, p.to, p.from));
    if (b.active) await mutateOn(env, p.host, argvCommand(['systemctl', 'restart', p.unit]));
  },
  async verifyUndo(p, b, env) {
    const now = await observeMirror(env, p);
    if (now.source !== p.from)
      throw new CheckError(`${p.host}:${p.file}: ${p.unit} reads from ${now.source}, expected ${p.from}`);
    if (b.active) await waitMirrorReplicating(env, p.datacenter);
  },
});

/**
 * What the mirrors mean for removing HOST: running mirrors that read from it (to re-point),
 * and refusals (a running mirror that runs on HOST or writes into it). Stopped mirrors are
 * re-pointed too (so that a later switchover starts them right) or only warned about.
 */
async function mirrorsForRemoval(
  env: ActionEnv,
  host: string,
): Promise<{ repoint: MirrorUse[]; refusals: string[]; warnings: string[] }> {
  const uses = await mirrorUses(env);
  const refusals: string[] = [];
  const warnings: string[] = [];
  for (const m of uses) {
    const into = m.destination.host === host || m.host === host;
    if (!into) continue;
    const what = `etcdmirror ${m.unit} runs on ${m.host} and writes into ${m.destination.host ?? m.destination.url}`;
    if (m.active)
      refusals.push(
        `${what}: removing ${host} ends replication into ${m.datacenter}; move the mirror to another member first (replication.mirrors.${m.datacenter} and the site's configuration management)`,
      );
    else
      warnings.push(
        `WARNING: ${what} (not running now): move it before replication into ${m.datacenter} is started again`,
      );
  }
  return {
    repoint: uses.filter((m) => m.source.host === host && !(m.destination.host === host || m.host === host)),
    refusals,
    warnings,
  };
}

// ---------------------------------------------------------------------------------------------
// etcd on a member, knowing its membership

interface MemberServiceParams {
  cluster: string;
  host: string;
  peerUrl: string;
  unit: string;
  state: 'active' | 'inactive';
}

/**
 * Starts or stops etcd on a member, with undo guards that know the membership: an etcd
 * started to join is not stopped again while that would take the quorum away (remove the
 * member first), and an etcd stopped after its member was removed is not started again (it
 * cannot rejoin that way; etcd.member-add brings it back).
 */
export const memberService = defineAction<MemberServiceParams, { active: boolean }>({
  kind: 'etcd.member-service',
  describe: (p) => `${p.host}: ${p.state === 'active' ? 'start' : 'stop'} ${p.unit} (${p.cluster})`,
  observe: async (p, env) => ({ active: (await unitState(env, p.host, p.unit)) === 'active' }),
  plan: (p, b) =>
    b.active === (p.state === 'active')
      ? []
      : [{ subject: `${p.host} ${p.unit}`, from: b.active ? 'active' : 'inactive', to: p.state }],
  async apply(p, _b, env) {
    await mutateOn(env, p.host, argvCommand(['systemctl', p.state === 'active' ? 'start' : 'stop', p.unit]));
  },
  async guardUndo(p, b, env) {
    const h = await clusterHealth(env, p.cluster);
    const me = memberHealthOf(h, p.peerUrl);
    if (b.active && !me) {
      throw new GuardError(
        `${p.host} is no longer a member of ${p.cluster}: its etcd stays stopped (starting it cannot make it rejoin)`,
        [`cookbook etcd.member-add ${p.host}`],
      );
    }
    if (!b.active && me?.healthy && h.healthy - 1 < h.needed) {
      throw new GuardError(
        `stopping etcd on ${p.host} would leave ${p.cluster} without quorum (${h.healthy - 1} of ${h.size} healthy, ${h.needed} needed): it stays running`,
        [
          `remove the member first (it is then stopped by etcd itself), or keep it: cookbook etcd.member-add ${p.host} finishes the join`,
        ],
      );
    }
  },
  async undo(p, b, env) {
    await mutateOn(env, p.host, argvCommand(['systemctl', b.active ? 'start' : 'stop', p.unit]));
  },
  verifyTimeoutMs: 30_000,
});

// ---------------------------------------------------------------------------------------------
// The configuration management's settings (the runbook's "write down the output")

/** ETCD_INITIAL_CLUSTER for members (name=peer URL), sorted. */
export function initialCluster(
  members: { name: string; peerURLs: string[] }[],
  host: string,
  peerUrl: string,
): string {
  const entries = members
    .filter((m) => !m.peerURLs.includes(peerUrl))
    .map((m) => `${m.name}=${m.peerURLs[0]}`);
  return [...entries, `${host}=${peerUrl}`].sort().join(',');
}

/** `text` (an /etc/default file) with KEY="value" set for each entry, other lines kept as they are. */
export function withEnvironment(text: string, values: Record<string, string>): string {
  const lines = text.split('\n');
  for (const [key, value] of Object.entries(values)) {
    const line = `${key}="${value}"`;
    const i = lines.findIndex((l) => new RegExp(`^\\s*${key}=`).test(l));
    if (i >= 0) lines[i] = line;
    else lines.splice(lines[lines.length - 1] === '' ? lines.length - 1 : lines.length, 0, line);
  }
  return lines.join('\n');
}

/** What the site's configuration management must be given after a membership change, read from the cluster as it is now. */
export async function configManagementSettings(
  env: ActionEnv,
  cluster: string,
): Promise<{ lines: string[]; settings: Record<string, unknown> }> {
  const config = env.config();
  const { members } = await readMembers(env, cluster);
  const hosts = members.map(
    (m) =>
      config.etcd.clusters[cluster]!.members.find((h) => m.peerURLs.includes(peerUrlOf(env, cluster, h))) ??
      m.name,
  );
  const initial = members
    .map((m, i) => `${m.name || hosts[i]}=${m.peerURLs[0]}`)
    .sort()
    .join(',');
  const srv = Object.fromEntries(
    await Promise.all(
      srvRecordsOf(config, cluster).map(
        async (name) => [name, (await srvRecords(env, name)).map(targetOf).filter(Boolean).sort()] as const,
      ),
    ),
  );
  const mirrors = Object.fromEntries(
    (await mirrorUses(env).catch(() => [])).map((m) => [
      m.unit,
      { host: m.host, source: m.source.url, destination: m.destination.url },
    ]),
  );
  const settings = {
    cluster,
    members: [...hosts].sort(),
    ETCD_INITIAL_CLUSTER: initial,
    ETCD_INITIAL_CLUSTER_STATE: 'existing',
    srvRecords: srv,
    mirrors,
  };
  const lines = [
    `write down, for the site's configuration management (${cluster}):`,
    `  members: ${settings.members.join(', ')}`,
    `  ETCD_INITIAL_CLUSTER (profile::etcd::discovery): ${initial}`,
    `  ETCD_INITIAL_CLUSTER_STATE: existing (profile::etcd::cluster_bootstrap: false)`,
    ...Object.entries(srv).map(([name, targets]) => `  SRV ${name}: ${targets.join(', ') || 'empty'}`),
    ...Object.entries(mirrors).map(([unit, m]) => `  ${unit} on ${m.host}: ${m.source} → ${m.destination}`),
    `  and etcd.clusters.${cluster}.members in ${config.file} if it changed`,
  ];
  return { lines, settings };
}

// ---------------------------------------------------------------------------------------------
// The steps

/** What the steps need from the run: the action environment, and a way to report data (--json). */
export interface MembershipRun extends ActionEnv {
  runId: string;
  report(key: string, value: unknown): void;
}

export interface RemoveOptions {
  /** Accept leaving fewer than the minimum, or too few healthy members for a quorum (confirmed with the removal). */
  allowBelowMinimum?: boolean;
}

/**
 * The steps of "remove member HOST from its cluster": pre-flight (cluster, quorum, minimum
 * size, mirrors, SSH to every host touched) before any change; move leadership away from
 * HOST if it leads; re-point the mirrors that read from it; take it out of every SRV record
 * that lists it; remove the member (irreversible: asked explicitly); stop its etcd; check the
 * cluster; print the settings to give the configuration management. A member already gone
 * plans nothing (re-runnable).
 */
export function removeMemberSteps(run: MembershipRun, host: string, o: RemoveOptions = {}): Step[] {
  const { cluster, config: c, peerUrl } = memberOf(run, host);
  const config = run.config();
  const minimum = minimumSize(config, cluster);
  const srvIds = new Set<string>();
  const mirrorIds = new Set<string>();
  return [
    check(`Pre-flight: ${cluster} can lose ${host}; every host this run touches answers`, async () => {
      const h = await clusterHealth(run, cluster);
      const lines = removalVerdict(h, host, peerUrl, {
        minimum,
        allowBelowMinimum: o.allowBelowMinimum === true,
      });
      const mirrors = await mirrorsForRemoval(run, host);
      if (mirrors.refusals.length) throw new CheckError(`refused: ${mirrors.refusals.join('; ')}`);
      const listing = await srvRecordsListing(run, host);
      const targets: PreflightTarget[] = [
        { host, unit: c.unit, dir: c.dataDir, why: `the member (${c.unit}, ${c.dataDir})` },
      ];
      for (const r of listing) {
        const zh = zoneHostOf(config, r.name);
        if (zh) targets.push({ host: zh, why: `publishes ${r.name}` });
      }
      for (const m of mirrors.repoint)
        targets.push({ host: m.host, unit: m.unit, why: `${m.unit} reads from ${host}` });
      lines.push(await preflightHosts(run, targets));
      for (const m of mirrors.repoint)
        lines.push(
          `${m.unit} on ${m.host} reads from ${host}${m.active ? ' (running)' : ' (not running)'}: it will be re-pointed at another member of ${cluster}`,
        );
      lines.push(...mirrors.warnings);
      if (listing.length) lines.push(`${host} is listed in ${listing.map((r) => r.name).join(', ')}`);
      return lines.join('\n');
    }),
    step(`Move leadership away from ${host} if it leads ${cluster}`, async () => {
      const h = await clusterHealth(run, cluster);
      if (!h.leader?.peerURLs.includes(peerUrl)) return [];
      const to = h.members.find((m) => m.healthy && m.host !== undefined && m.host !== host);
      if (!to?.host)
        throw new CheckError(`${host} leads ${cluster} and no other healthy member can take over`);
      return [
        ordered(
          moveLeader({
            cluster,
            from: host,
            fromPeerUrl: peerUrl,
            to: to.host,
            toPeerUrl: peerUrlOf(run, cluster, to.host),
          }),
          { id: 'move-leader' },
        ),
      ];
    }),
    step(`Re-point etcdmirror away from ${host}`, async () => {
      const { repoint } = await mirrorsForRemoval(run, host);
      if (!repoint.length) return [];
      const h = await clusterHealth(run, cluster);
      return repoint.map((m) => {
        const to = h.members.find((x) => x.healthy && x.host !== undefined && x.host !== host);
        if (!to?.host)
          throw new CheckError(
            `${m.unit} reads from ${host} and no other healthy member of ${cluster} can serve it`,
          );
        const id = `mirror:${m.datacenter}`;
        mirrorIds.add(id);
        return ordered(
          repointMirror({
            datacenter: m.datacenter,
            host: m.host,
            unit: m.unit,
            file: m.file,
            sourceCluster: cluster,
            from: m.source.url,
            fromHost: host,
            to: urlFor(config, m.source.url, to.host),
            toHost: to.host,
          }),
          { id },
        );
      });
    }),
    check(`No running etcdmirror reads from or writes into ${host}`, async () => {
      const uses = (await mirrorUses(run)).filter(
        (m) => m.active && (m.source.host === host || m.destination.host === host || m.host === host),
      );
      if (uses.length)
        throw new CheckError(
          `${uses.map((m) => `${m.unit} on ${m.host} replicates ${m.source.url} → ${m.destination.url}`).join('; ')}: removing ${host} would end replication`,
        );
      return `no running etcdmirror uses ${host}`;
    }),
    step(`Remove ${host} from every SRV record that lists it`, async () => {
      const listing = await srvRecordsListing(run, host);
      return listing.map((r) => {
        const kept = r.records.filter((x) => targetOf(x) !== host);
        if (!kept.length)
          throw new CheckError(
            `${host} is the only target of ${r.name}: removing it would leave its clients nothing`,
          );
        const id = `srv:${r.name}`;
        srvIds.add(id);
        return ordered(setRecordSet({ name: r.name, type: 'SRV', records: kept }), { id });
      });
    }),
    step(`Remove ${host} from the ${cluster} cluster`, () => [
      // The SRV records and the mirrors stay away from HOST unless the member comes back.
      ordered(removeMember({ cluster, host, peerUrl, minimum }), {
        id: 'remove-member',
        undoBefore: [...srvIds, ...mirrorIds],
      }),
    ]),
    step(`Stop etcd on ${host}`, [
      memberService({ cluster, host, peerUrl, unit: c.unit, state: 'inactive' }),
    ]),
    check(
      `${cluster} is healthy without ${host}`,
      async () => {
        const h = await clusterHealth(run, cluster);
        if (memberHealthOf(h, peerUrl)) throw new CheckError(`${host} is still a member of ${cluster}`);
        return assertHealthy(h);
      },
      { timeoutMs: 20_000 },
    ),
    settingsCheck(run, cluster),
  ];
}

export interface AddOptions {
  /** Also put HOST into the SRV records (default true; a bootstrap may do it once at the end). */
  srv?: boolean;
}

/**
 * The steps of "add member HOST to its cluster" (also the second half of a reimage, and how
 * a bootstrap grows a cluster): pre-flight (quorum, the warning when the quorum is at risk,
 * SSH to HOST with its unit and data directory) before any change; stop etcd on HOST and
 * empty its data directory (irreversible); add the member; write ETCD_INITIAL_CLUSTER and
 * ETCD_INITIAL_CLUSTER_STATE="existing"; start etcd; check the cluster; put HOST into its SRV
 * records; print the settings. A host already a started member plans nothing.
 */
export function addMemberSteps(run: MembershipRun, host: string, o: AddOptions = {}): Step[] {
  const { cluster, config: c, peerUrl } = memberOf(run, host);
  const config = run.config();
  const joined = async () => memberHealthOf(await clusterHealth(run, cluster), peerUrl)?.started === true;
  const unlessJoined = (build: () => AnyAction[] | Promise<AnyAction[]>) => async () =>
    (await joined()) ? [] : build();
  return [
    check(`Pre-flight: ${cluster} can take ${host}; every host this run touches answers`, async () => {
      const h = await clusterHealth(run, cluster);
      const lines = additionVerdict(h, host, peerUrl);
      const targets: PreflightTarget[] = [
        { host, unit: c.unit, dir: c.dataDir, why: `the new member (${c.unit}, ${c.dataDir})` },
      ];
      if (o.srv !== false) {
        for (const name of srvRecordsOf(config, cluster)) {
          const zh = zoneHostOf(config, name);
          if (zh) targets.push({ host: zh, why: `publishes ${name}` });
        }
      }
      lines.push(await preflightHosts(run, targets));
      return lines.join('\n');
    }),
    step(
      `Stop etcd on ${host}`,
      unlessJoined(() => [memberService({ cluster, host, peerUrl, unit: c.unit, state: 'inactive' })]),
    ),
    step(
      `Empty the data directory of ${host}`,
      unlessJoined(() => [wipeDirectory({ host, path: c.dataDir })]),
    ),
    step(`Add ${host} to the ${cluster} cluster`, [
      ordered(addMember({ cluster, host, peerUrl }), { id: `add-member:${host}` }),
    ]),
    step(
      `Configure etcd on ${host} to join the existing cluster`,
      unlessJoined(async () => {
        const { members } = await readMembers(run, cluster);
        const file = await readRemoteFile(run, host, c.envFile);
        const content = withEnvironment(file.content ?? '', {
          ETCD_INITIAL_CLUSTER: initialCluster(members, host, peerUrl),
          ETCD_INITIAL_CLUSTER_STATE: 'existing',
        });
        return [writeRemoteFile({ host, path: c.envFile, content })];
      }),
    ),
    step(`Start etcd on ${host}`, [memberService({ cluster, host, peerUrl, unit: c.unit, state: 'active' })]),
    check(
      `${cluster} is healthy with ${host}`,
      async () => {
        const h = await clusterHealth(run, cluster);
        if (!memberHealthOf(h, peerUrl)?.healthy)
          throw new CheckError(`${host} is not a healthy member of ${cluster} yet (${describeHealth(h)})`);
        return assertHealthy(h);
      },
      { timeoutMs: 30_000 },
    ),
    ...(o.srv === false ? [] : [addToSrvStep(run, host)]),
    settingsCheck(run, cluster),
  ];
}

/** Puts HOST (back) into the SRV records of its cluster (its own, and the conftool one if its cluster is the master). */
export function addToSrvStep(run: MembershipRun, host: string): Step {
  const { cluster, config: c } = memberOf(run, host);
  const names = srvRecordsOf(run.config(), cluster);
  return step(`Add ${host} to ${names.join(' and ')}`, async () => {
    const out: AnyAction[] = [];
    for (const name of names) {
      const current = await srvRecords(run, name);
      if (current.some((r) => targetOf(r) === host)) continue;
      const ttl = current[0]?.ttl ?? 300;
      const like = current.find((r) => typeof r.data === 'object' && 'port' in r.data)?.data as
        { priority?: number; weight?: number; port?: number } | undefined;
      out.push(
        setRecordSet({
          name,
          type: 'SRV',
          records: [
            ...current,
            {
              ttl,
              data: {
                priority: like?.priority ?? 0,
                weight: like?.weight ?? 1,
                port: like?.port ?? c.proxyPort,
                target: host,
              },
            },
          ],
        }),
      );
    }
    return out;
  });
}

function settingsCheck(run: MembershipRun, cluster: string): Step {
  return check(`Settings for the site's configuration management`, async () => {
    const { lines, settings } = await configManagementSettings(run, cluster);
    run.report('configManagement', settings);
    return lines.join('\n');
  });
}

/**
 * What must hold at every end of a membership run on `cluster`: it has its quorum, and every
 * configured SRV record lists only started members of the cluster it points at.
 */
export function membershipSafeState(run: ActionEnv, cluster: string): SafeState {
  return {
    title: `${cluster} has its quorum and every SRV record lists only members`,
    async check() {
      const config = run.config();
      const problems: string[] = [];
      const h = await clusterHealth(run, cluster);
      if (!h.quorum) problems.push(describeHealth(h));
      for (const { name, cluster: of } of configuredSrvRecords(config)) {
        const members = of === cluster ? h : await clusterHealth(run, of);
        const hosts = new Set(members.members.filter((m) => m.started).map((m) => m.host));
        const strays = (await srvRecords(run, name))
          .map(targetOf)
          .filter((t): t is string => t !== undefined && !hosts.has(t));
        if (strays.length)
          problems.push(
            `${name} lists ${strays.join(', ')}, not ${strays.length === 1 ? 'a member' : 'members'} of ${of}`,
          );
      }
      if (problems.length) throw new CheckError(problems.join('; '));
      return `${describeHealth(h)}; the SRV records list only members`;
    },
    restore(problem) {
      const lines: string[] = [];
      if (/NO QUORUM/.test(problem))
        lines.push(
          `bring ${cluster}'s stopped members back (systemctl start ${run.config().etcd.clusters[cluster]!.unit} on each), or recover it from a backup (etcd.disaster-recovery ${cluster})`,
        );
      for (const m of problem.matchAll(/(\S+) lists (\S+(?:, \S+)*), not/g))
        lines.push(`take ${m[2]} out of ${m[1]} (or add ${m[2]} back: cookbook etcd.member-add HOST)`);
      return lines;
    },
  };
}
