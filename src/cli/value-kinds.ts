/**
 * The kinds of value that shell completion reads from the environment file: a flag or an
 * argument of one of these kinds completes to the config's datacenters, hosts or etcd clusters.
 * A command names its own in a static `valueKinds` ({flag or argument name: kind}), which oclif
 * keeps in its manifest.
 */
export const VALUE_KINDS = ['datacenter', 'host', 'cluster'] as const;
export type ValueKind = (typeof VALUE_KINDS)[number];
export type ValueKinds = Record<string, ValueKind>;

export function isValueKind(s: unknown): s is ValueKind {
  return (VALUE_KINDS as readonly unknown[]).includes(s);
}
