import type { EtcdClusterConfig } from '../config/schema.js';
import type { ActionEnv } from '../core/action.js';
import { CheckError } from '../core/errors.js';
import { etcdOf, peerUrlOf, readMembers } from './etcd.js';

/** Membership helpers shared by etcd.member-add and etcd.member-remove (all read-only). */

/** The etcd cluster a host is configured in. */
export function clusterOfHost(env: ActionEnv, host: string): string {
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

/** The lock member-add and member-remove share: one membership change per host at a time. */
export const membershipLock = (host: string) => ({ name: `etcd.membership:${host}` });

/** Fails unless every current member answers healthy and there is one leader; says who is the leader. */
export async function checkClusterHealthy(
  env: ActionEnv,
  cluster: string,
  expectMembers?: number,
): Promise<string> {
  const { members } = await readMembers(env, cluster);
  if (expectMembers !== undefined && members.length !== expectMembers) {
    throw new CheckError(
      `${cluster} has ${members.length} members, expected ${expectMembers}: ${members.map((m) => m.name || m.id).join(', ')}`,
    );
  }
  const unnamed = members.filter((m) => !m.name);
  if (unnamed.length)
    throw new CheckError(
      `${cluster}: member(s) ${unnamed.map((m) => m.peerURLs.join(',')).join(', ')} added but not started yet`,
    );
  const health = await etcdOf(env, cluster, 'local').health();
  if (!health.healthy) throw new CheckError(`${cluster} is not healthy (asked ${health.endpoint})`);
  const self = await etcdOf(env, cluster, 'local').selfStats();
  const leader = members.find((m) => m.id === self.leaderId);
  if (!leader) throw new CheckError(`${cluster} has no leader`);
  return `${cluster}: ${members.length} members (${members.map((m) => m.name).join(', ')}), healthy, leader ${leader.name}`;
}

/** The ETCD_INITIAL_CLUSTER value for a member joining: every current member, plus it. */
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
