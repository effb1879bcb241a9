import type { GalleyConfig } from '../config/schema.js';
import type { ActionEnv } from '../core/action.js';
import { formatError } from '../core/errors.js';
import { readOn } from '../actions/remote.js';
import { safeCmd } from '../ssh/command.js';
import { etcdClientFor, type EtcdClient } from '../etcd/index.js';
import { httpOf, recordsOf } from '../actions/probes.js';
import { probeProxyMode, type ProxyMode } from '../actions/proxy.js';
import { describeRecords, observeRRset, type RRsetObservation } from '../dns/index.js';

/**
 * Read-only inspections of the etcd setup, built to answer within a few seconds even when a
 * member, a mirror or a DNS server is down: every probe runs in parallel with a short timeout,
 * and a failure is reported next to what it concerns, never thrown.
 */

const PROBE_TIMEOUT_MS = 1500;

export interface MemberStatus {
  host: string;
  id?: string;
  healthy: boolean;
  isLeader: boolean;
  etcdIndex?: number;
  proxy?: ProxyMode;
  error?: string;
}

export interface ClusterStatus {
  cluster: string;
  datacenter: string;
  members: MemberStatus[];
  leader?: string;
  etcdIndex?: number;
  /** read-only / read-write when every reachable proxy agrees, else "mixed". */
  proxy: ProxyMode | 'mixed' | 'unknown';
  healthy: boolean;
  /** A leader, and a majority of the members answering healthy. */
  hasQuorum: boolean;
}

function probeClient(env: ActionEnv, cluster: string, host: string): EtcdClient {
  return env.service(
    `status:${cluster}:${host}`,
    () =>
      etcdClientFor(env.config(), cluster, { via: 'proxy', members: [host], timeoutMs: PROBE_TIMEOUT_MS }),
    (c) => c.close(),
  );
}

async function memberStatus(env: ActionEnv, cluster: string, host: string): Promise<MemberStatus> {
  const c = probeClient(env, cluster, host);
  try {
    const [health, self, root, proxy] = await Promise.all([
      c.health(),
      c.selfStats(),
      c.get('/'),
      probeProxyMode(env, cluster, host),
    ]);
    return {
      host,
      id: self.id,
      healthy: health.healthy,
      isLeader: self.state === 'StateLeader',
      etcdIndex: root.etcdIndex,
      proxy,
    };
  } catch (e) {
    return { host, healthy: false, isLeader: false, error: formatError(e).split('\n')[0] };
  }
}

/** Members (health, leader, index, proxy mode) of every cluster, or of one datacenter's. */
export async function clusterStatuses(env: ActionEnv, datacenter?: string): Promise<ClusterStatus[]> {
  const config = env.config();
  // A cluster not in service yet (before etcd.bootstrap) is not expected to answer.
  const clusters = Object.values(config.etcd.clusters).filter(
    (c) => c.inService && (!datacenter || c.datacenter === datacenter),
  );
  return Promise.all(
    clusters.map(async (c) => {
      const members = await Promise.all(c.members.map((h) => memberStatus(env, c.name, h)));
      const up = members.filter((m) => !m.error);
      const modes = [...new Set(up.map((m) => m.proxy))];
      const leader = members.find((m) => m.isLeader)?.host;
      return {
        cluster: c.name,
        datacenter: c.datacenter,
        members,
        leader,
        etcdIndex: Math.max(0, ...up.map((m) => m.etcdIndex ?? 0)) || undefined,
        proxy: modes.length === 1 ? (modes[0] ?? 'unknown') : modes.length ? 'mixed' : 'unknown',
        healthy: leader !== undefined && up.length * 2 > members.length && up.every((m) => m.healthy),
        hasQuorum: leader !== undefined && up.filter((m) => m.healthy).length * 2 > members.length,
      };
    }),
  );
}

export interface ReplicationStatus {
  master?: string;
  /** Per datacenter that has a mirror configured: is it replicating into that datacenter, and its lag. */
  mirrors: {
    datacenter: string;
    host: string;
    unit: string;
    running: boolean;
    lag?: number;
    error?: string;
    stoppedBecause?: string;
  }[];
  /** "codfw → eqiad" when exactly one mirror runs. */
  direction?: string;
}

/** Why a mirror whose status endpoint answers does not replicate (`/health`: "not replicating: …"). */
function reasonOnHealth(health: string): string | undefined {
  return /^not replicating: (.+)$/m.exec(health)?.[1]?.trim();
}

/**
 * The last ERROR line a stopped mirror logged (`systemctl status` on its host shows the unit's
 * last log lines: the inconsistency, the history gap, the unreachable cluster).
 */
async function lastLoggedError(env: ActionEnv, host: string, unit: string): Promise<string | undefined> {
  try {
    const r = await readOn(env, host, safeCmd`systemctl status ${unit} --no-pager --lines=50`, {
      allowExit: [3, 4],
    });
    const errors = r.stdout
      .split('\n')
      .map((l) => / ERROR (.+)$/.exec(l)?.[1])
      .filter((l): l is string => l !== undefined);
    return errors.at(-1)?.trim();
  } catch {
    return undefined;
  }
}

/**
 * Which etcdmirror runs (asked over its HTTP endpoint, through the run's HTTP reader when `env`
 * is given), and its lag in events; for one that does not, why it stopped: what its endpoint
 * says, or, when replication is not running at all and `env` is given, the last error its unit
 * logged (over SSH). The mirror of the other direction is stopped on purpose while replication
 * runs: its old log lines are not asked for, nor shown.
 */
export async function replicationStatus(
  config: GalleyConfig,
  env?: ActionEnv,
): Promise<ReplicationStatus | undefined> {
  const fetchText = (url: string) => httpOf(env).get(url, PROBE_TIMEOUT_MS);
  const r = config.replication;
  if (!r) return undefined;
  const mirrors: ReplicationStatus['mirrors'] = await Promise.all(
    Object.entries(r.mirrors).map(async ([datacenter, m]) => {
      // metrics_url names the mirror's HTTP endpoint (its /metrics page, or its base URL).
      const base = m.metricsUrl.replace(/\/metrics\/?$/, '').replace(/\/$/, '');
      try {
        const [health, lag] = await Promise.all([fetchText(`${base}/health`), fetchText(`${base}/lag`)]);
        const running = health.status === 200;
        return {
          datacenter,
          host: m.host,
          unit: m.unit,
          running,
          lag: Number(lag.body.trim()),
          error: running ? undefined : health.body.trim().split('\n')[0],
          stoppedBecause: running ? undefined : reasonOnHealth(health.body),
        };
      } catch (e) {
        const cause = (e as { cause?: { code?: string } }).cause?.code;
        return {
          datacenter,
          host: m.host,
          unit: m.unit,
          running: false,
          error: cause === 'ECONNREFUSED' ? 'not running (connection refused)' : formatError(e),
        };
      }
    }),
  );
  if (env && !mirrors.some((m) => m.running)) {
    await Promise.all(
      mirrors.map(async (m) => {
        if (m.stoppedBecause === undefined) {
          const why = await lastLoggedError(env, m.host, m.unit);
          if (why !== undefined) m.stoppedBecause = why;
        }
      }),
    );
  }
  const running = mirrors.filter((m) => m.running);
  const sourceOf = (dst: string) =>
    Object.values(config.etcd.clusters).find((c) => c.datacenter !== dst)?.datacenter ?? '?';
  return {
    master: r.master,
    mirrors,
    direction:
      running.length === 1 ? `${sourceOf(running[0]!.datacenter)} → ${running[0]!.datacenter}` : undefined,
  };
}

/** The SRV records clients use (per datacenter, and the read-write one), on every authoritative server (through the run's record reader when `env` is given). */
export async function srvStatus(config: GalleyConfig, env?: ActionEnv): Promise<RRsetObservation[]> {
  if (!config.dns) return [];
  const names = [
    ...Object.values(config.etcd.clusters)
      .filter((c) => c.inService)
      .map((c) => c.srvRecord),
    ...(config.replication ? [config.replication.rwSrvRecord] : []),
  ];
  return Promise.all(
    names.map((n) =>
      env
        ? recordsOf(env).observe(n, 'SRV', { timeoutMs: PROBE_TIMEOUT_MS, retries: 0 })
        : observeRRset(config, n, 'SRV', { timeoutMs: PROBE_TIMEOUT_MS, retries: 0 }),
    ),
  );
}

/** A fixed-width table. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatClusters(s: ClusterStatus[]): string {
  const out: string[] = [];
  for (const c of s) {
    out.push(
      `${c.cluster} (${c.datacenter}): ${c.healthy ? 'healthy' : 'UNHEALTHY'}, leader ${c.leader ?? 'NONE'}, etcd index ${c.etcdIndex ?? '?'}, proxy ${c.proxy}`,
    );
    out.push(
      table([
        ['  member', 'id', 'health', 'role', 'index', 'proxy'],
        ...c.members.map((m) => [
          `  ${m.host}`,
          m.id ?? '-',
          m.error ? `DOWN: ${m.error}` : m.healthy ? 'healthy' : 'unhealthy',
          m.error ? '-' : m.isLeader ? 'leader' : 'follower',
          String(m.etcdIndex ?? '-'),
          m.proxy ?? '-',
        ]),
      ]),
    );
  }
  return out.join('\n');
}

export function formatReplication(r: ReplicationStatus | undefined): string {
  if (!r) return 'no replication configured';
  const head = `configured master ${r.master ?? '?'}; replication ${r.direction ?? (r.mirrors.some((m) => m.running) ? 'RUNS IN BOTH DIRECTIONS' : 'NOT RUNNING')}`;
  const why = r.mirrors
    .filter((m) => !m.running && m.stoppedBecause)
    .map((m) => `  ${m.unit} on ${m.host} stopped: ${m.stoppedBecause}`);
  return [
    head,
    table([
      ['  into', 'host', 'unit', 'state', 'lag (events)'],
      ...r.mirrors.map((m) => [
        `  ${m.datacenter}`,
        m.host,
        m.unit,
        m.running ? 'replicating' : (m.error ?? 'stopped'),
        m.lag === undefined || Number.isNaN(m.lag) ? '-' : String(m.lag),
      ]),
    ]),
    ...why,
  ].join('\n');
}

/**
 * What makes `etcd.status` exit 1: a cluster without quorum (no leader, or no healthy
 * majority), or replication not running one way (no mirror replicating, or both). Empty: all well.
 */
export function statusProblems(
  clusters: ClusterStatus[],
  replication: ReplicationStatus | undefined,
): string[] {
  const problems = clusters
    .filter((c) => !c.hasQuorum)
    .map(
      (c) =>
        `cluster ${c.cluster} (${c.datacenter}) has no quorum (${c.leader ? 'no healthy majority' : 'no leader'})`,
    );
  if (replication && !replication.direction) {
    const running = replication.mirrors.filter((m) => m.running);
    if (running.length > 1)
      problems.push(
        `replication runs in both directions (${running.map((m) => `into ${m.datacenter}`).join(', ')})`,
      );
    else {
      const why = replication.mirrors
        .map((m) => m.stoppedBecause)
        .filter((w): w is string => w !== undefined);
      problems.push(`replication is not running${why.length ? `: ${why.join('; ')}` : ''}`);
    }
  }
  return problems;
}

export function formatSrv(list: RRsetObservation[]): string {
  if (!list.length) return 'no DNS configured';
  const rows = [['  record', 'server', 'TTL', 'targets']];
  for (const o of list) {
    for (const v of o.servers) {
      const ttl = v.records?.length ? [...new Set(v.records.map((r) => r.ttl))].join('/') : '-';
      const targets = v.error
        ? `DOWN: ${v.error}`
        : v.records?.length
          ? describeRecords('SRV', v.records).replace(/\b\d+ SRV /g, '')
          : 'NXDOMAIN';
      rows.push([`  ${o.name}`, v.server.name, ttl, targets]);
    }
  }
  return table(rows);
}
