/**
 * The lab's hosts and addresses, computed from a base such as `127.20`: pure data, no I/O.
 */

/** `spare`: a host of a cluster that is defined but not bootstrapped (sshd and etcd installed, nothing running). */
export type LabRole = 'etcd' | 'spare' | 'authdns' | 'bench';

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

/**
 * A cluster the lab defines (hosts with sshd, etcd installed and configured) but never starts:
 * `etcd.bootstrap` builds it. It shares a datacenter with a running cluster, as a second cluster
 * of a datacenter does in production (the seed's kubernetes cluster in eqiad).
 */
export interface LabSpareCluster extends LabCluster {
  /** Its name in etcd.clusters (the running clusters are named after their datacenter). */
  name: string;
  srvRecord: string;
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
  /** Defined, not started (see LabSpareCluster). */
  spareClusters: LabSpareCluster[];
  authdns: LabHost[];
  bench: LabHost[];
  knot: { name: string; address: string; port: number };
  mirrors: LabMirrorUnit[];
  /** Prometheus, Alertmanager and the IRC server (ngircd), each on its own address. */
  monitoring: LabMonitoring;
}

export interface LabMonitoring {
  prometheus: { address: string; port: number };
  alertmanager: { address: string; port: number };
  irc: { address: string; port: number; channel: string };
}

export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
export const PROXY_PORT = 4001;
export const SSH_PORT = 22;
export const DNS_PORT = 53;
export const MIRROR_METRICS_PORT = 8000;
export const DEFAULT_BENCH_HOSTS = 50;
/** Bench hosts per /24: 127.N.9.1-250, then 127.N.10.1-250, and so on. */
export const BENCH_HOSTS_PER_SUBNET = 250;
/** The first /24 of the bench hosts (127.N.9.x). */
export const BENCH_FIRST_SUBNET = 9;
/** The most bench hosts a lab can have: eight /24s, 127.N.9.x to 127.N.16.x. */
export const MAX_BENCH_HOSTS = 2000;

/** Digits of the bench host numbers: three (bench001), or more when the count needs them (bench0001 for 1,000). */
export function benchDigits(benchHosts: number): number {
  return Math.max(3, String(benchHosts).length);
}

/** The name of bench host `i` (from 1) of a lab with `benchHosts` of them: zero-padded, so that names sort. */
export function benchHostName(i: number, benchHosts: number): string {
  return `bench${String(i).padStart(benchDigits(benchHosts), '0')}.lab.wmnet`;
}

/** Every bench host as one host set (`bench[001-050].lab.wmnet`, `bench[0001-1000].lab.wmnet`). */
export function benchHostSet(benchHosts: number): string {
  const d = benchDigits(benchHosts);
  return `bench[${'1'.padStart(d, '0')}-${String(benchHosts).padStart(d, '0')}].lab.wmnet`;
}

/** The address of bench host `i` (from 1): 250 per /24 from 127.N.9.1. */
export function benchAddress(base: string, i: number): string {
  const third = BENCH_FIRST_SUBNET + Math.floor((i - 1) / BENCH_HOSTS_PER_SUBNET);
  return `${base}.${third}.${((i - 1) % BENCH_HOSTS_PER_SUBNET) + 1}`;
}

export const PROMETHEUS_PORT = 9090;
export const ALERTMANAGER_PORT = 9093;
export const IRC_PORT = 6667;
/** The channel runs are announced in (the Server Admin Log's, in production #wikimedia-operations). */
export const IRC_CHANNEL = '#sal';

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

/** The spare cluster's name: the seed's kubernetes etcd cluster in eqiad. */
export const SPARE_CLUSTER = 'kubetcd';

/** The production-named topology on addresses under `base` (eqiad 1.7-9, codfw 2.4-6, authdns 3.1-2, knot 3.53, kubetcd 4.4-6, bench 9.1-250, 10.1-250…). */
export function labTopology(rawBase: string, benchHosts = DEFAULT_BENCH_HOSTS): LabTopology {
  const base = parseBase(rawBase);
  const eqiad = [7, 8, 9].map((n) => conf(base, 'eqiad', n, 1, 1000 + n));
  const codfw = [4, 5, 6].map((n) => conf(base, 'codfw', n, 2, 2000 + n));
  const kubetcd: LabHost[] = [4, 5, 6].map((n) => ({
    name: `kubetcd100${n}.eqiad.wmnet`,
    address: `${base}.4.${n}`,
    datacenter: 'eqiad',
    role: 'spare' as const,
  }));
  const authdns: LabHost[] = [
    { name: 'authdns1001.eqiad.wmnet', address: `${base}.3.1`, datacenter: 'eqiad', role: 'authdns' },
    { name: 'authdns2001.codfw.wmnet', address: `${base}.3.2`, datacenter: 'codfw', role: 'authdns' },
  ];
  if (!Number.isInteger(benchHosts) || benchHosts < 0 || benchHosts > MAX_BENCH_HOSTS) {
    throw new Error(`bench hosts must be a whole number from 0 to ${MAX_BENCH_HOSTS}, not ${benchHosts}`);
  }
  const bench: LabHost[] = [];
  for (let i = 1; i <= benchHosts; i++) {
    bench.push({
      name: benchHostName(i, benchHosts),
      address: benchAddress(base, i),
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
    spareClusters: [
      {
        name: SPARE_CLUSTER,
        datacenter: 'eqiad',
        members: kubetcd,
        srvRecord: `_etcd._tcp.${SPARE_CLUSTER}.eqiad.wmnet`,
      },
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
    monitoring: {
      prometheus: { address: `${base}.4.1`, port: PROMETHEUS_PORT },
      alertmanager: { address: `${base}.4.2`, port: ALERTMANAGER_PORT },
      irc: { address: `${base}.4.3`, port: IRC_PORT, channel: IRC_CHANNEL },
    },
  };
}

/** Every host that runs its own sshd in its own namespace (conf and authdns hosts). */
export function namespacedHosts(t: LabTopology): LabHost[] {
  return [...t.clusters.flatMap((c) => c.members), ...t.authdns, ...spareHosts(t)];
}

/** The hosts of the spare (not bootstrapped) clusters. */
export function spareHosts(t: LabTopology): LabHost[] {
  return t.spareClusters.flatMap((c) => c.members);
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
  // Spare hosts run only their sshd; etcd's ports must be free for etcd.bootstrap.
  for (const h of spareHosts(t)) {
    for (const port of [SSH_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT])
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
  const m = t.monitoring;
  out.push({ address: m.prometheus.address, port: m.prometheus.port, proto: 'tcp', owner: 'prometheus' });
  out.push({
    address: m.alertmanager.address,
    port: m.alertmanager.port,
    proto: 'tcp',
    owner: 'alertmanager',
  });
  out.push({ address: m.irc.address, port: m.irc.port, proto: 'tcp', owner: 'ngircd' });
  return out;
}
