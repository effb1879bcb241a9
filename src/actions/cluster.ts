import type { EtcdClusterConfig } from '../config/schema.js';
import { defineAction, type ActionEnv, type AnyAction } from '../core/action.js';
import { CheckError, ConfigError } from '../core/errors.js';
import { etcdClientFor, type EtcdClient } from '../etcd/index.js';
import { argvCommand } from '../ssh/command.js';
import { addMember, peerUrlOf, type MembersState } from './etcd.js';
import { ensureService, readOn, readRemoteFile, writeRemoteFile } from './remote.js';

/**
 * A cluster's whole life (etcd.bootstrap, etcd.disaster-recovery): who answers, how a member
 * joins, the settings etcd starts from. The small "join a member" builder here is the same
 * sequence etcd.member-add runs (add, configure with state existing, start); the two are to be
 * merged once membership safety lands.
 */

/** The lock shared by every cookbook that changes a cluster's membership. */
export const clusterMembershipLock = (cluster: string) => ({ name: `etcd.membership:${cluster}` });

/** A cluster of the config, or a UsageError naming the known ones. */
export function clusterConfig(env: ActionEnv, cluster: string): EtcdClusterConfig {
  const config = env.config();
  const c = config.etcd.clusters[cluster];
  if (!c)
    throw new ConfigError(`unknown etcd cluster "${cluster}"`, [
      `known: ${Object.keys(config.etcd.clusters).join(', ')}`,
    ]);
  return c;
}

/** A client for one member only, on its local client port, with a short timeout (probes). */
export function memberClient(env: ActionEnv, cluster: string, host: string): EtcdClient {
  return env.service(
    `etcd:${cluster}:local:${host}`,
    () => etcdClientFor(env.config(), cluster, { via: 'local', members: [host], timeoutMs: 3000 }),
    (c) => c.close(),
  );
}

/** What one member says about itself (nothing when its etcd does not answer). */
export interface MemberProbe {
  host: string;
  answers: boolean;
  healthy: boolean;
  id?: string;
  leaderId?: string;
  error?: string;
}

/** Asks every configured member of a cluster, in parallel, whether it runs, is healthy and sees a leader. */
export async function probeMembers(env: ActionEnv, cluster: string): Promise<MemberProbe[]> {
  const c = clusterConfig(env, cluster);
  return Promise.all(
    c.members.map(async (host): Promise<MemberProbe> => {
      const client = memberClient(env, cluster, host);
      try {
        const [self, health] = await Promise.all([client.selfStats(), client.health()]);
        return {
          host,
          answers: true,
          healthy: health.healthy && Boolean(self.leaderId),
          id: self.id,
          leaderId: self.leaderId || undefined,
        };
      } catch (e) {
        return { host, answers: false, healthy: false, error: e instanceof Error ? e.message : String(e) };
      }
    }),
  );
}

/** Whether etcd answers on a member's local client port. */
export async function memberAnswers(env: ActionEnv, cluster: string, host: string): Promise<boolean> {
  return memberClient(env, cluster, host)
    .selfStats()
    .then(
      () => true,
      () => false,
    );
}

/** The members list as the first answering member sees it, or undefined when none answers. */
export async function membersIfUp(env: ActionEnv, cluster: string): Promise<MembersState | undefined> {
  for (const p of await probeMembers(env, cluster)) {
    if (!p.answers) continue;
    try {
      const members = await memberClient(env, cluster, p.host).members();
      return {
        members: members
          .map((m) => ({ id: m.id, name: m.name, peerURLs: [...m.peerURLs].sort() }))
          .sort((a, b) => a.id.localeCompare(b.id)),
      };
    } catch {
      // try the next one
    }
  }
  return undefined;
}

/**
 * Fails unless every member of the cluster is started (named), answers healthy and sees the
 * same leader; with `size`, unless it has exactly that many; with `including`, unless those
 * hosts are among them. Returns one line for the operator.
 */
export async function checkHealthyWith(
  env: ActionEnv,
  cluster: string,
  o: { size?: number; including?: string[] } = {},
): Promise<string> {
  const state = await membersIfUp(env, cluster);
  if (!state) throw new CheckError(`no member of ${cluster} answers`);
  const { members } = state;
  const size = o.size ?? members.length;
  const missing = (o.including ?? []).filter((h) => !members.some((m) => m.name === h));
  if (missing.length) throw new CheckError(`${missing.join(', ')} not (yet) a started member of ${cluster}`);
  if (members.length !== size)
    throw new CheckError(
      `${cluster} has ${members.length} member(s), expected ${size}: ${members.map((m) => m.name || m.peerURLs.join(',')).join(', ')}`,
    );
  const unstarted = members.filter((m) => !m.name);
  if (unstarted.length)
    throw new CheckError(
      `${cluster}: ${unstarted.map((m) => m.peerURLs.join(',')).join(', ')} added but not started yet`,
    );
  const c = clusterConfig(env, cluster);
  const probes = (await probeMembers(env, cluster)).filter((p) => members.some((m) => m.name === p.host));
  const sick = probes.filter((p) => !p.healthy);
  if (sick.length) throw new CheckError(`${cluster}: not healthy on ${sick.map((p) => p.host).join(', ')}`);
  const leaders = new Set(probes.map((p) => p.leaderId));
  if (leaders.size !== 1) throw new CheckError(`${cluster}: members disagree on the leader`);
  const leader = members.find((m) => m.id === [...leaders][0]);
  const unknown = members.filter((m) => !c.members.includes(m.name));
  if (unknown.length)
    throw new CheckError(
      `${cluster} has member(s) not in the config: ${unknown.map((m) => m.name).join(', ')}`,
    );
  return `${cluster}: ${members.length} member(s) (${members
    .map((m) => m.name)
    .sort()
    .join(', ')}), healthy, leader ${leader?.name ?? '?'}`;
}

/** Fails when a majority of the cluster's configured members answers healthy with a leader: it has quorum. */
export async function checkQuorumLost(env: ActionEnv, cluster: string): Promise<string> {
  const probes = await probeMembers(env, cluster);
  const healthy = probes.filter((p) => p.healthy);
  if (healthy.length) {
    throw new CheckError(
      `${cluster} has quorum (healthy on ${healthy.map((p) => p.host).join(', ')}): disaster recovery is only for a cluster that lost it`,
      {
        suggestions: ['replace single members with etcd.member-remove and etcd.member-add instead'],
      },
    );
  }
  const running = probes.filter((p) => p.answers).map((p) => p.host);
  return `${cluster} has no quorum: ${running.length ? `etcd answers without a leader on ${running.join(', ')}` : 'no member answers'}`;
}

/** `text` (an /etc/default file) with KEY="value" set for each entry (undefined: the line removed), other lines kept. */
export function withSettings(text: string, values: Record<string, string | undefined>): string {
  let lines = text.split('\n');
  for (const [key, value] of Object.entries(values)) {
    const re = new RegExp(`^\\s*(export\\s+)?${key}=`);
    if (value === undefined) {
      lines = lines.filter((l) => !re.test(l));
      continue;
    }
    const line = `${key}="${value}"`;
    const i = lines.findIndex((l) => re.test(l));
    if (i >= 0) lines[i] = line;
    else lines.splice(lines[lines.length - 1] === '' ? lines.length - 1 : lines.length, 0, line);
  }
  return lines.join('\n');
}

/** The value of KEY in an /etc/default file (quotes removed), if set. */
export function settingOf(text: string, key: string): string | undefined {
  const m = new RegExp(`^\\s*(?:export\\s+)?${key}=(.*)$`, 'm').exec(text);
  return m ? m[1]!.trim().replace(/^(["'])(.*)\1$/, '$2') : undefined;
}

/** ETCD_INITIAL_CLUSTER for the given members (name=peer URL), sorted by name. */
export function initialClusterOf(entries: { name: string; peerUrl: string }[]): string {
  return [...entries]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((e) => `${e.name}=${e.peerUrl}`)
    .join(',');
}

/** Writes the member's etcd settings (only the keys given change) — an ssh.write-file action. */
export async function configureMember(
  env: ActionEnv,
  cluster: string,
  host: string,
  values: Record<string, string | undefined>,
): Promise<AnyAction> {
  const c = clusterConfig(env, cluster);
  const file = await readRemoteFile(env, host, c.envFile);
  if (!file.exists)
    throw new CheckError(`${host}: ${c.envFile} does not exist: is etcd installed and configured there?`);
  return writeRemoteFile({
    host,
    path: c.envFile,
    content: withSettings(file.content ?? '', values),
  }) as AnyAction;
}

/**
 * The actions that make HOST a running member of a running cluster, as the runbook's "adding a
 * member": add it (by its peer URL), write ETCD_INITIAL_CLUSTER (the current members and it)
 * and ETCD_INITIAL_CLUSTER_STATE="existing", start etcd. Nothing when it already runs as a
 * member. Its data directory must be empty (checked by the caller's pre-flight).
 */
export async function joinMemberActions(env: ActionEnv, cluster: string, host: string): Promise<AnyAction[]> {
  const c = clusterConfig(env, cluster);
  const peerUrl = peerUrlOf(env, cluster, host);
  const state = await membersIfUp(env, cluster);
  if (!state) throw new CheckError(`no member of ${cluster} answers: it must run before ${host} can join`);
  const me = state.members.find((m) => m.peerURLs.includes(peerUrl));
  if (me?.name) return [];
  const others = state.members
    .filter((m) => !m.peerURLs.includes(peerUrl) && m.name)
    .map((m) => ({ name: m.name, peerUrl: m.peerURLs[0]! }));
  const actions: AnyAction[] = [];
  if (!me) actions.push(addMember({ cluster, host, peerUrl }) as AnyAction);
  actions.push(
    await configureMember(env, cluster, host, {
      ETCD_INITIAL_CLUSTER: initialClusterOf([...others, { name: host, peerUrl }]),
      ETCD_INITIAL_CLUSTER_STATE: 'existing',
      ETCD_FORCE_NEW_CLUSTER: undefined,
    }),
    ensureService({ host, unit: c.unit, state: 'active' }) as AnyAction,
  );
  return actions;
}

/** How many entries a directory on a host holds (0 when absent). Read-only. */
export async function directoryEntries(env: ActionEnv, host: string, path: string): Promise<number> {
  const r = await readOn(
    env,
    host,
    argvCommand(['sh', '-c', 'if [ -d "$1" ]; then ls -A -- "$1" | wc -l; else echo 0; fi', 'count', path], {
      isSafe: true,
    }),
  );
  return Number(r.stdout.trim()) || 0;
}

/** Fails unless HOST answers over SSH (known host key) and has the etcd unit and its settings file. */
export async function checkMemberHost(env: ActionEnv, cluster: string, host: string): Promise<void> {
  const c = clusterConfig(env, cluster);
  const r = await readOn(
    env,
    host,
    argvCommand(
      [
        'sh',
        '-c',
        'systemctl show -p LoadState --value "$1" && test -f "$2" && echo ok',
        'preflight',
        c.unit,
        c.envFile,
      ],
      { isSafe: true },
    ),
    {
      allowExit: [1, 5],
    },
  );
  if (!/\bok\s*$/.test(r.stdout) || /masked/.test(r.stdout)) {
    throw new CheckError(
      `${host}: the ${c.unit} unit or ${c.envFile} is missing (or the unit is masked): install and configure etcd there first`,
    );
  }
}

/**
 * Corrects a member's advertised peer URLs (a member restored with --force-new-cluster comes
 * back advertising http://localhost:2380). Asked through that member. Undo puts the old URLs back.
 */
export const setMemberPeerUrl = defineAction<
  { cluster: string; host: string; peerUrl: string },
  { id?: string; peerURLs: string[] }
>({
  kind: 'etcd.set-member-peer-url',
  describe: (p) => `${p.cluster}: advertise ${p.peerUrl} as the peer URL of ${p.host}`,
  async observe(p, env) {
    const client = memberClient(env, p.cluster, p.host);
    const [self, members] = await Promise.all([client.selfStats(), client.members()]);
    const me = members.find((m) => m.id === self.id);
    return { id: me?.id, peerURLs: [...(me?.peerURLs ?? [])].sort() };
  },
  plan: (p, b) =>
    b.peerURLs.length === 1 && b.peerURLs[0] === p.peerUrl
      ? []
      : [
          {
            subject: `${p.cluster} member ${p.host} peer URLs`,
            from: b.peerURLs.join(',') || 'none',
            to: p.peerUrl,
          },
        ],
  async apply(p, b, env) {
    if (!b.id) throw new CheckError(`${p.host} does not list itself as a member of ${p.cluster}`);
    await memberClient(env, p.cluster, p.host).updateMember(b.id, [p.peerUrl]);
  },
  async undo(p, b, env) {
    if (b.id && b.peerURLs.length) await memberClient(env, p.cluster, p.host).updateMember(b.id, b.peerURLs);
  },
  comparable: (s) => s.peerURLs,
});

/** The members of a cluster as the config lists them, with their peer URLs. */
export function configuredMembers(env: ActionEnv, cluster: string): { name: string; peerUrl: string }[] {
  return clusterConfig(env, cluster).members.map((name) => ({
    name,
    peerUrl: peerUrlOf(env, cluster, name),
  }));
}
