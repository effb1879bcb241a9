import { defineAction, type ActionEnv } from '../core/action.js';
import { CheckError } from '../core/errors.js';
import {
  EtcdKeyNotFoundError,
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
    if (m) await etcdOf(env, p.cluster, 'local').removeMember(m.id);
  },
  comparable: (s) => s.members.map((m) => m.peerURLs.join(',')).sort(),
});

/**
 * Removes a member from a cluster. Refuses to remove the leader (transfer leadership first, as
 * the runbook says). Irreversible: a removed member comes back only through etcd.member-add
 * (its data wiped, etcd restarted with ETCD_INITIAL_CLUSTER_STATE=existing).
 */
export const removeMember = defineAction<MemberParams, MembersState>({
  kind: 'etcd.remove-member',
  describe: (p) => `${p.cluster}: remove member ${p.host} (${p.peerUrl})`,
  irreversibleBecause: 'a removed member rejoins only through etcd.member-add (wiped data, state existing)',
  observe: (p, env) => readMembers(env, p.cluster),
  plan: (p, b) => {
    const m = hasPeer(b, p.peerUrl);
    return m ? [{ subject: `${p.cluster} members`, from: `${p.host} (id ${m.id})`, to: 'removed' }] : [];
  },
  async apply(p, b, env) {
    const m = hasPeer(b, p.peerUrl);
    if (!m) return;
    const leader = (await etcdOf(env, p.cluster, 'local').selfStats()).leaderId;
    if (leader === m.id)
      throw new CheckError(
        `${p.host} is the leader of ${p.cluster}: transfer leadership (restart it) before removing it`,
      );
    await etcdOf(env, p.cluster, 'local').removeMember(m.id);
  },
  comparable: (s) => s.members.map((m) => m.peerURLs.join(',')).sort(),
});
