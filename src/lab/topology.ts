/**
 * The lab's hosts and addresses, computed from a base such as `127.20`: pure data, no I/O.
 */

export type LabRole = 'etcd' | 'authdns' | 'bench';

/** One host of the lab: a UTS + mount namespace with its own sshd (bench hosts share one). */
export interface LabHost {
  /** FQDN, as in production (`conf1007.eqiad.wmnet`). */
  name: string;
  address: string;
  datacenter: string;
  role: LabRole;
}

export interface LabCluster {
  datacenter: string;
  members: LabHost[];
}

/** The unit of etcdmirror that replicates the master into `datacenter`, and where it runs. */
export interface LabMirrorUnit {
  datacenter: string;
  /** The replicated-from datacenter when `datacenter` is the replica. */
  sourceDatacenter: string;
  host: LabHost;
  unit: string;
  metricsPort: number;
}

export interface LabTopology {
  base: string;
  datacenters: string[];
  master: string;
  clusters: LabCluster[];
  authdns: LabHost[];
  bench: LabHost[];
  knot: { name: string; address: string; port: number };
  mirrors: LabMirrorUnit[];
}

export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
export const PROXY_PORT = 4001;
export const SSH_PORT = 22;
export const DNS_PORT = 53;
export const MIRROR_METRICS_PORT = 8000;
export const DEFAULT_BENCH_HOSTS = 50;

/** Checks a base of the form `A.B` inside 127.0.0.0/8. */
export function parseBase(base: string): string {
  const m = /^127\.(\d{1,3})$/.exec(base.trim());
  if (!m || Number(m[1]) > 255) {
    throw new Error(`lab base "${base}" is not of the form 127.N (N from 0 to 255), e.g. 127.20`);
  }
  return `127.${Number(m[1])}`;
}

function conf(base: string, dc: string, domainNumber: number, third: number, hostNumber: number): LabHost {
  return {
    name: `conf${hostNumber}.${dc}.wmnet`,
    address: `${base}.${third}.${domainNumber}`,
    datacenter: dc,
    role: 'etcd',
  };
}

/** The production-named topology on addresses under `base` (eqiad 1.7-9, codfw 2.4-6, authdns 3.1-2, knot 3.53, bench 9.N). */
export function labTopology(rawBase: string, benchHosts = DEFAULT_BENCH_HOSTS): LabTopology {
  const base = parseBase(rawBase);
  const eqiad = [7, 8, 9].map((n) => conf(base, 'eqiad', n, 1, 1000 + n));
  const codfw = [4, 5, 6].map((n) => conf(base, 'codfw', n, 2, 2000 + n));
  const authdns: LabHost[] = [
    { name: 'authdns1001.eqiad.wmnet', address: `${base}.3.1`, datacenter: 'eqiad', role: 'authdns' },
    { name: 'authdns2001.codfw.wmnet', address: `${base}.3.2`, datacenter: 'codfw', role: 'authdns' },
  ];
  const bench: LabHost[] = [];
  for (let i = 1; i <= benchHosts; i++) {
    bench.push({
      name: `bench${String(i).padStart(3, '0')}.lab.wmnet`,
      address: `${base}.9.${i}`,
      datacenter: 'eqiad',
      role: 'bench',
    });
  }
  return {
    base,
    datacenters: ['eqiad', 'codfw'],
    master: 'codfw',
    clusters: [
      { datacenter: 'eqiad', members: eqiad },
      { datacenter: 'codfw', members: codfw },
    ],
    authdns,
    bench,
    knot: { name: 'knot.lab.wmnet', address: `${base}.3.53`, port: DNS_PORT },
    mirrors: [
      {
        datacenter: 'eqiad',
        sourceDatacenter: 'codfw',
        host: eqiad[0]!,
        unit: 'etcdmirror-conftool-eqiad-wmnet',
        metricsPort: MIRROR_METRICS_PORT,
      },
      {
        datacenter: 'codfw',
        sourceDatacenter: 'eqiad',
        host: codfw[0]!,
        unit: 'etcdmirror-conftool-codfw-wmnet',
        metricsPort: MIRROR_METRICS_PORT,
      },
    ],
  };
}

/** Every host that runs its own sshd in its own namespace (conf and authdns hosts). */
export function namespacedHosts(t: LabTopology): LabHost[] {
  return [...t.clusters.flatMap((c) => c.members), ...t.authdns];
}

/** Every host of the inventory, bench hosts included. */
export function allHosts(t: LabTopology): LabHost[] {
  return [...namespacedHosts(t), ...t.bench];
}

export function clusterOf(t: LabTopology, dc: string): LabCluster {
  const c = t.clusters.find((x) => x.datacenter === dc);
  if (!c) throw new Error(`no lab cluster in datacenter ${dc}`);
  return c;
}

/** `--initial-cluster` of a cluster: `name=http://addr:2380,…`. */
export function initialCluster(c: LabCluster): string {
  return c.members.map((m) => `${m.name}=http://${m.address}:${ETCD_PEER_PORT}`).join(',');
}

/** Every TCP/UDP listener the lab needs, for the free-port check before start. */
export function labListeners(
  t: LabTopology,
): { address: string; port: number; proto: 'tcp' | 'udp'; owner: string }[] {
  const out: { address: string; port: number; proto: 'tcp' | 'udp'; owner: string }[] = [];
  for (const h of t.clusters.flatMap((c) => c.members)) {
    for (const port of [SSH_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT, PROXY_PORT])
      out.push({ address: h.address, port, proto: 'tcp', owner: h.name });
  }
  for (const m of t.mirrors)
    out.push({
      address: m.host.address,
      port: m.metricsPort,
      proto: 'tcp',
      owner: `${m.host.name} (${m.unit})`,
    });
  for (const h of t.authdns) {
    out.push({ address: h.address, port: SSH_PORT, proto: 'tcp', owner: h.name });
    out.push({ address: h.address, port: DNS_PORT, proto: 'tcp', owner: h.name });
    out.push({ address: h.address, port: DNS_PORT, proto: 'udp', owner: h.name });
  }
  out.push({ address: t.knot.address, port: DNS_PORT, proto: 'tcp', owner: 'knot' });
  out.push({ address: t.knot.address, port: DNS_PORT, proto: 'udp', owner: 'knot' });
  for (const h of t.bench) out.push({ address: h.address, port: SSH_PORT, proto: 'tcp', owner: h.name });
  return out;
}
