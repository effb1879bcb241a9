/**
 * What the lab e2e tests read back after a run (SRV targets, a cluster's keyspace on every
 * member), and the lab CLI that fails with the run's output when its exit code is not the one
 * expected. Shared by the membership, reimage and other lab tests.
 */
import type { GalleyConfig } from '../../src/config/schema.js';
import { observeRRset } from '../../src/dns/index.js';
import { etcdClientFor, type EtcdNode } from '../../src/etcd/index.js';
import { waitUntil } from '../../src/util/wait.js';
import { labConfigPath } from '../integration/lab.js';
import { type CliResult, runCli } from './cli.js';

/** A run's stdout and stderr, for messages and matching. */
export const out = (r: { stdout: string; stderr: string }) => r.stdout + r.stderr;

/** Runs the CLI on the lab; `expectCode` fails with the run's output when the exit code differs. */
export function labCli(args: string[], expectCode?: number, extra: Record<string, string> = {}): CliResult {
  const r = runCli(args, { GALLEY_CONFIG: labConfigPath(), ...extra }, 600_000);
  if (expectCode !== undefined && r.code !== expectCode)
    throw new Error(`cookbook ${args.join(' ')} exited ${r.code}, expected ${expectCode}:\n${out(r)}`);
  return r;
}

/** The targets of an SRV record as the authoritative DNS serves it, sorted, without the final dot. */
export async function srvTargets(config: GalleyConfig, name: string): Promise<string[]> {
  const records = (await observeRRset(config, name, 'SRV')).records ?? [];
  return records
    .map((r) => (typeof r.data === 'object' && 'target' in r.data ? r.data.target.replace(/\.$/, '') : ''))
    .sort();
}

/** Every key of a tree with its indexes, and its value or "dir" (TTLs left out: they tick). */
function leaves(n: EtcdNode, o: Record<string, string> = {}): Record<string, string> {
  if (n.key) o[n.key] = `${n.createdIndex} ${n.modifiedIndex} ${n.dir ? 'dir' : n.value}`;
  for (const x of n.nodes ?? []) leaves(x, o);
  return o;
}

/**
 * Waits (15 s) until every member of the cluster serves the same keys, values and indexes, and
 * returns the keyspace as the first member serves it, with its number of keys and directories.
 */
export async function identicalOnEveryMember(
  config: GalleyConfig,
  cluster: string,
): Promise<{ tree: EtcdNode; keys: number }> {
  const hosts = config.etcd.clusters[cluster]!.members;
  const trees = await waitUntil({
    what: `every member of ${cluster} holds the same keys`,
    probe: () =>
      Promise.all(
        hosts.map(async (h) => {
          const c = etcdClientFor(config, cluster, { via: 'local', members: [h] });
          try {
            const node = (await c.get('/', { recursive: true, sorted: true })).node;
            return { node, leaves: JSON.stringify(leaves(node)) };
          } finally {
            c.close();
          }
        }),
      ),
    until: (t) => t.every((x) => x.leaves === t[0]!.leaves),
    timeoutMs: 15_000,
    intervalMs: 200,
  });
  return { tree: trees[0]!.node, keys: Object.keys(JSON.parse(trees[0]!.leaves) as object).length };
}
