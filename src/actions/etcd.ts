import { defineAction, type ActionEnv } from '../core/action.js';
import { CheckError, GuardError } from '../core/errors.js';
import {
  EtcdHttpError,
  EtcdKeyNotFoundError,
  etcdClientFor,
  sharedEtcdClient,
  type EtcdClient,
  type EtcdMember,
  type EtcdVia,
} from '../etcd/index.js';

/**
 * etcd as actions. Writes are conditional (compare-and-swap on the index observed, or
 * create-if-absent) so that a concurrent change is detected and reported, never overwritten;
 * undo is conditional too (on the value this action wrote).
 */

/** The run's client for a cluster; `proxy` (TLS + auth, the advertised URL) unless told otherwise. */
export function etcdOf(env: ActionEnv, cluster: string, via: EtcdVia = 'proxy'): EtcdClient {
  return sharedEtcdClient(env, cluster, via);
}

interface KeyState {
  exists: boolean;
  value?: string;
  modifiedIndex?: number;
}

async function readKey(client: EtcdClient, key: string): Promise<KeyState> {
  try {
    const r = await client.get(key, { quorum: true });
    if (r.node.dir) throw new CheckError(`${key} is a directory, not a key`);
    return { exists: true, value: r.node.value ?? '', modifiedIndex: r.node.modifiedIndex };
  } catch (e) {
    if (e instanceof EtcdKeyNotFoundError) return { exists: false };
    throw e;
  }
}

const show = (s: KeyState) => (s.exists ? JSON.stringify(s.value) : 'absent');
const comparable = (s: KeyState) => ({ exists: s.exists, value: s.value });

export interface KeyParams {
  cluster: string;
  key: string;
  via?: EtcdVia;
}

/** Reads a key (read-only; runs in dry-run). Undefined when absent. */
export async function getKey(env: ActionEnv, p: KeyParams): Promise<string | undefined> {
  return (await readKey(etcdOf(env, p.cluster, p.via), p.key)).value;
}

/** Sets a key. Undo restores the previous value, or deletes the key if it did not exist. */
export const setKey = defineAction<KeyParams & { value: string }, KeyState>({
  kind: 'etcd.set-key',
  describe: (p) => `${p.cluster}: set ${p.key} = ${p.value}`,
  observe: (p, env) => readKey(etcdOf(env, p.cluster, p.via), p.key),
  plan: (p, b) =>
    b.exists && b.value === p.value
      ? []
      : [{ subject: `${p.cluster}:${p.key}`, from: show(b), to: JSON.stringify(p.value) }],
  async apply(p, b, env) {
    const c = etcdOf(env, p.cluster, p.via);
    if (b.exists) await c.compareAndSwap(p.key, p.value, { prevIndex: b.modifiedIndex! });
    else await c.create(p.key, p.value);
  },
  async undo(p, b, env) {
    const c = etcdOf(env, p.cluster, p.via);
    const now = await readKey(c, p.key);
    if (comparableEq(now, b)) return;
    if (b.exists) await c.compareAndSwap(p.key, b.value ?? '', { prevValue: p.value });
    else await c.delete(p.key, { prevValue: p.value });
  },
  comparable,
});

/** Deletes a key. Undo writes it back with its previous value. */
export const deleteKey = defineAction<KeyParams, KeyState>({
  kind: 'etcd.delete-key',
  describe: (p) => `${p.cluster}: delete ${p.key}`,
  observe: (p, env) => readKey(etcdOf(env, p.cluster, p.via), p.key),
  plan: (p, b) => (b.exists ? [{ subject: `${p.cluster}:${p.key}`, from: show(b), to: 'absent' }] : []),
  async apply(p, b, env) {
    await etcdOf(env, p.cluster, p.via).delete(p.key, { prevIndex: b.modifiedIndex });
  },
  async undo(p, b, env) {
    if (b.exists) await etcdOf(env, p.cluster, p.via).create(p.key, b.value ?? '');
  },
  comparable,
});

function comparableEq(a: KeyState, b: KeyState): boolean {
  return JSON.stringify(comparable(a)) === JSON.stringify(comparable(b));
}

export interface MembersState {
  members: { id: string; name: string; peerURLs: string[] }[];
}

/** The peer URL of a host in a cluster: http://ADDRESS:PEER_PORT. */
export function peerUrlOf(env: ActionEnv, cluster: string, host: string): string {
  const config = env.config();
  const c = config.etcd.clusters[cluster];
  const h = config.hosts[host];
  if (!c || !h) throw new CheckError(`${host} is not a host of etcd cluster ${cluster} in ${config.file}`);
  return `http://${h.address}:${c.peerPort}`;
}

/** The members of a cluster (id, name, peer URLs), read through a member's local port. */
export async function readMembers(env: ActionEnv, cluster: string): Promise<MembersState> {
  const members: EtcdMember[] = await etcdOf(env, cluster, 'local').members();
  return {
    members: members
      .map((m) => ({ id: m.id, name: m.name, peerURLs: [...m.peerURLs].sort() }))
      .sort((a, b) => a.id.localeCompare(b.id)),
  };
}

/** The run's client for a cluster's local ports, without one member (for changes that concern it). */
function othersThan(env: ActionEnv, cluster: string, host: string): EtcdClient {
  const members = env.config().etcd.clusters[cluster]!.members.filter((h) => h !== host);
  return env.service(
    `etcd:${cluster}:local:without:${host}`,
    () => etcdClientFor(env.config(), cluster, { via: 'local', members }),
    (c) => c.close(),
  );
}

const hasPeer = (s: MembersState, url: string) => s.members.find((m) => m.peerURLs.includes(url));

export interface MemberParams {
  cluster: string;
  host: string;
  /** From {@link peerUrlOf}: part of the parameters so that plans are pure. */
  peerUrl: string;
}

/**
 * Adds a member (by its peer URL) to a cluster, through a member's local client port (the
 * proxy's clients must not change membership, as the seeds explain). Undo removes it.
 * Bare 500s right after a join are retried by the client with a deadline.
 */
export const addMember = defineAction<MemberParams, MembersState>({
  kind: 'etcd.add-member',
  describe: (p) => `${p.cluster}: add member ${p.host} (${p.peerUrl})`,
  observe: (p, env) => readMembers(env, p.cluster),
  plan: (p, b) =>
    hasPeer(b, p.peerUrl)
      ? []
      : [
          {
            subject: `${p.cluster} members`,
            from: b.members.map((m) => m.name || m.id).join(', '),
            to: `+ ${p.host}`,
          },
        ],
  async apply(p, _b, env) {
    await etcdOf(env, p.cluster, 'local').addMember([p.peerUrl]);
  },
  async undo(p, _b, env) {
    const now = await readMembers(env, p.cluster);
    const m = hasPeer(now, p.peerUrl);
    if (m) await othersThan(env, p.cluster, p.host).removeMember(m.id);
  },
  /**
   * Removing the added member is itself a member change: raft commits it only with a quorum.
   * Without one (a 1-member cluster grown to 2 whose new member never started), etcd answers
   * 500 for ever; say what would bring the quorum back instead.
   */
  async guardUndo(p, _b, env) {
    const h = await clusterHealth(env, p.cluster);
    if (h.quorum || !hasPeer({ members: h.members }, p.peerUrl)) return;
    throw new GuardError(
      `${p.cluster} has no quorum (${h.healthy} of ${h.size} members healthy, ${h.needed} needed): removing ${p.host} again needs one, so it stays a member`,
      [
        `start etcd on ${p.host} so that it joins and restores the quorum (cookbook etcd.member-add ${p.host} does it)`,
        `or recover ${p.cluster} from a backup (etcd.disaster-recovery)`,
      ],
    );
  },
  comparable: (s) => s.members.map((m) => m.peerURLs.join(',')).sort(),
});

/**
 * Removes a member from a cluster. Refuses to remove the leader (transfer leadership first, as
 * the runbook says). Irreversible: a removed member comes back only through etcd.member-add
 * (its data wiped, etcd restarted with ETCD_INITIAL_CLUSTER_STATE=existing).
 */
export const removeMember = defineAction<MemberParams & { minimum?: number }, MembersState>({
  kind: 'etcd.remove-member',
  describe: (p) => `${p.cluster}: remove member ${p.host} (${p.peerUrl})`,
  irreversibleBecause: 'a removed member rejoins only through etcd.member-add (wiped data, state existing)',
  observe: (p, env) => readMembers(env, p.cluster),
  plan: (p, b) => {
    const m = hasPeer(b, p.peerUrl);
    if (!m) return [];
    const after = b.members.length - 1;
    const size = {
      subject: `${p.cluster} size`,
      from: String(b.members.length),
      to: `${after}${p.minimum !== undefined && after < p.minimum ? ` (BELOW THE MINIMUM OF ${p.minimum}: --allow-below-minimum)` : ''}`,
    };
    return [{ subject: `${p.cluster} members`, from: `${p.host} (id ${m.id})`, to: 'removed' }, size];
  },
  async apply(p, b, env) {
    const m = hasPeer(b, p.peerUrl);
    if (!m) return;
    // Asked of the other members: the removed one shuts down as it answers, and a retry on
    // the next member would then be told 410 "permanently removed".
    const others = othersThan(env, p.cluster, p.host);
    const leader = (await others.selfStats()).leaderId;
    if (leader === m.id)
      throw new CheckError(
        `${p.host} is the leader of ${p.cluster}: move leadership to another member first (etcd.member-remove offers it)`,
      );
    try {
      await others.removeMember(m.id);
    } catch (e) {
      if (e instanceof EtcdHttpError && e.httpStatus === 410) return; // removed already (an earlier attempt got through)
      throw e;
    }
  },
  comparable: (s) => s.members.map((m) => m.peerURLs.join(',')).sort(),
});

/** One member as the cluster and the member itself report it. */
export interface MemberHealth {
  id: string;
  /** Empty while the member was added and has not started yet. */
  name: string;
  peerURLs: string[];
  /** The configured host with this peer URL (undefined: not a host of the config). */
  host?: string;
  started: boolean;
  /** Its /health answered true. */
  healthy: boolean;
  /** The leader it follows (hex id), as its /v2/stats/self says. */
  leaderId?: string;
  /** Why it is not healthy (connection refused, 503…). */
  error?: string;
}

/** A cluster's health, structured: who the members are, who leads, and whether there is a quorum. */
export interface ClusterHealth {
  cluster: string;
  members: MemberHealth[];
  /** The member most healthy members follow; undefined if none (no quorum, or an election). */
  leader?: MemberHealth;
  size: number;
  /** Members whose /health is true. */
  healthy: number;
  /** A majority of `size`: what raft needs to commit anything, a member change included. */
  needed: number;
  quorum: boolean;
}

/** A majority of n members. */
export const majorityOf = (n: number): number => Math.floor(n / 2) + 1;

/**
 * Reads a cluster's members (through any member's local port), then asks each configured
 * member itself for its /health and its leader (short timeout: a stopped member answers
 * "connection refused" at once). Read-only; throws CheckError when no member answers.
 */
export async function clusterHealth(
  env: ActionEnv,
  cluster: string,
  o: { timeoutMs?: number } = {},
): Promise<ClusterHealth> {
  const config = env.config();
  const c = config.etcd.clusters[cluster];
  if (!c) throw new CheckError(`unknown etcd cluster "${cluster}" (etcd.clusters in ${config.file})`);
  const client = etcdOf(env, cluster, 'local');
  let raw: EtcdMember[];
  try {
    raw = await client.members({ signal: env.signal });
  } catch (e) {
    throw new CheckError(`no member of ${cluster} answers: ${(e as Error).message}`, { cause: e });
  }
  const timeoutMs = o.timeoutMs ?? 3000;
  const hostOfPeer = new Map(c.members.map((h) => [peerUrlOf(env, cluster, h), h] as const));
  const members = await Promise.all(
    raw
      .map((m) => ({ id: m.id, name: m.name, peerURLs: [...m.peerURLs].sort() }))
      .sort((a, b) => a.id.localeCompare(b.id))
      .map(async (m): Promise<MemberHealth> => {
        const host = m.peerURLs.map((u) => hostOfPeer.get(u)).find((h) => h !== undefined);
        const started = m.name !== '';
        if (host === undefined)
          return { ...m, started, healthy: false, error: 'not a configured host: cannot ask it' };
        const one = client.forEndpoint(c.members.indexOf(host));
        try {
          const [h, self] = await Promise.all([
            one.health({ timeoutMs, signal: env.signal }),
            one.selfStats({ timeoutMs, signal: env.signal }),
          ]);
          return {
            ...m,
            host,
            started,
            healthy: h.healthy,
            leaderId: self.leaderId,
            ...(h.healthy ? {} : { error: 'unhealthy (/health is false)' }),
          };
        } catch (e) {
          return {
            ...m,
            host,
            started,
            healthy: false,
            error: started ? (e as Error).message : 'added, not started yet',
          };
        }
      }),
  );
  const size = members.length;
  const healthyMembers = members.filter((m) => m.healthy);
  const votes = new Map<string, number>();
  for (const m of healthyMembers) if (m.leaderId) votes.set(m.leaderId, (votes.get(m.leaderId) ?? 0) + 1);
  const [leaderId] = [...votes.entries()].sort((a, b) => b[1] - a[1])[0] ?? [];
  const needed = majorityOf(size);
  const leader = members.find((m) => m.id === leaderId && m.healthy);
  return {
    cluster,
    members,
    leader,
    size,
    healthy: healthyMembers.length,
    needed,
    quorum: healthyMembers.length >= needed && leader !== undefined,
  };
}

/** One line: "codfw: 3 members (a, b, c), 3 healthy, leader b". */
export function describeHealth(h: ClusterHealth): string {
  const names = h.members.map(
    (m) => `${m.host ?? (m.name || m.id)}${m.healthy ? '' : ` (${m.error ?? 'unhealthy'})`}`,
  );
  return `${h.cluster}: ${h.size} member${h.size === 1 ? '' : 's'} (${names.join(', ')}), ${h.healthy} healthy, ${h.quorum ? `quorum (${h.needed} needed)` : `NO QUORUM (${h.needed} needed)`}, leader ${h.leader ? (h.leader.host ?? h.leader.name) : 'none'}`;
}

interface LeaderState {
  /** Peer URLs of the leader (empty: no leader). */
  leaderPeerURLs: string[];
  leader?: string;
}

/**
 * Moves raft leadership away from `from` to `to` (both hosts of the cluster), with the v3
 * API's transfer-leadership, sent to the leader. Planned only while `from` leads. Undo
 * gives nothing back on purpose: which healthy member leads is not state to restore (an
 * election may move it at any time), so the undo only checks there is a leader.
 */
export const moveLeader = defineAction<
  { cluster: string; from: string; fromPeerUrl: string; to: string; toPeerUrl: string },
  LeaderState
>({
  kind: 'etcd.move-leader',
  describe: (p) => `${p.cluster}: move leadership from ${p.from} to ${p.to}`,
  async observe(p, env) {
    const h = await clusterHealth(env, p.cluster);
    return {
      leaderPeerURLs: h.leader?.peerURLs ?? [],
      ...(h.leader ? { leader: h.leader.host ?? h.leader.name } : {}),
    };
  },
  plan: (p, b) =>
    b.leaderPeerURLs.includes(p.fromPeerUrl)
      ? [{ subject: `${p.cluster} leader`, from: p.from, to: p.to }]
      : [],
  async apply(p, _b, env) {
    const config = env.config();
    const h = await clusterHealth(env, p.cluster);
    if (!h.leader?.peerURLs.includes(p.fromPeerUrl)) return; // already moved (an election)
    const target = h.members.find((m) => m.peerURLs.includes(p.toPeerUrl));
    if (!target?.healthy)
      throw new CheckError(`${p.to} is not a healthy member of ${p.cluster}: cannot move leadership to it`);
    const members = config.etcd.clusters[p.cluster]!.members;
    await etcdOf(env, p.cluster, 'local')
      .forEndpoint(members.indexOf(p.from))
      .moveLeader(target.id, { signal: env.signal, timeoutMs: 15_000 });
  },
  async undo() {
    // Nothing to give back: see above.
  },
  comparable: () => null,
  async verifyUndo(p, _b, env) {
    const h = await clusterHealth(env, p.cluster);
    if (!h.leader) throw new CheckError(`${p.cluster} has no leader`);
  },
  verifyTimeoutMs: 20_000,
});
