import type { GalleyConfig } from '../config/schema.js';
import type { ActionEnv, AnyAction } from '../core/action.js';
import { check, step, type SafeState, type Step } from '../core/cookbook.js';
import { CheckError } from '../core/errors.js';
import type { RecordValue } from '../dns/index.js';
import type { EtcdNode } from '../etcd/index.js';
import { replicationStatus } from '../inspect/etcd.js';
import {
  clientRef,
  clientStatus,
  clientsOf,
  describeUse,
  hostUse,
  learnHostKey,
  moveSrvClients,
  reimageHost,
  repointClient,
  setMirrorEndpoints,
  trustedHostKey,
  urlsWithout,
} from './clients.js';
import { memberClient } from './cluster.js';
import { readRecordSet } from './dns.js';
import { clusterHealth, describeHealth } from './etcd.js';
import {
  assertHealthy,
  leadershipAway,
  memberOf,
  mirrorUrls,
  mirrorUses,
  preflightHosts,
  type MembershipRun,
  type PreflightTarget,
} from './membership.js';
import { readRemoteFile } from './remote.js';

/**
 * The steps of "Reimage cluster" (etcd.reimage HOST) that are not a child cookbook's: the
 * pre-flight, moving the clients away and back, checking nothing uses the host, the reimage
 * itself, and the checks after the member was removed and added back (etcd.member-remove and
 * etcd.member-add, run as child cookbooks by the cookbook).
 */

/** What the steps need from the run: the membership run's context, and its facts. */
export interface ReimageRun extends MembershipRun {
  fact<T>(key: string, compute: () => Promise<T>): Promise<T>;
}

/** Where everything was before the run moved it (a fact of the run: a resume sees the same). */
interface Home {
  /** The datacenter's client SRV record as it was. */
  srv: RecordValue[];
  /** The configured clients' etcd hosts. */
  configured: Record<string, string>;
  /** The mirrors that read from or write into HOST: their URL lists. */
  mirrors: Record<string, { source: string; destination: string }>;
  /** HOST's key in the trusted source (a different one later: it was reimaged). */
  hostKey: string;
}

/** The cluster of the other datacenter, which takes the clients meanwhile. */
export function otherClusterOf(config: GalleyConfig, cluster: string): string {
  const c = config.etcd.clusters[cluster]!;
  const other = Object.values(config.etcd.clusters).find(
    (x) => x.inService && x.datacenter !== c.datacenter && config.datacenters.includes(x.datacenter),
  );
  if (!other)
    throw new CheckError(`no etcd cluster of another datacenter can take the clients of ${cluster}`);
  return other.name;
}

/** The mirrors whose unit lists HOST among the members it reads from or writes into, with their lists. */
async function mirrorsUsing(env: ActionEnv, host: string) {
  const config = env.config();
  const address = config.hosts[host]!.address;
  const out = [];
  for (const m of await mirrorUses(env)) {
    const f = await readRemoteFile(env, m.host, m.file);
    const urls = mirrorUrls(/^ExecStart=(.*)$/m.exec(f.content ?? '')?.[1] ?? '');
    if (!urls) continue;
    const lists = (l: string) =>
      l.split(',').some((u) => {
        try {
          const h = new URL(u).hostname;
          return h === host || h === address;
        } catch {
          return false;
        }
      });
    if (m.host === host || lists(urls.source) || lists(urls.destination)) out.push({ ...m, ...urls });
  }
  return out;
}

/** The run's memory of where things were (computed once, journaled). */
function home(run: ReimageRun, host: string): Promise<Home> {
  return run.fact('reimage:home', async () => {
    const config = run.config();
    const { config: c } = memberOf(run, host);
    const configured: Record<string, string> = {};
    for (const cl of clientsOf(config, c.datacenter).filter((x) => x.kind === 'configured')) {
      const s = await clientStatus(run, cl);
      if (!s.etcdHost)
        throw new CheckError(`${cl.unit} on ${cl.host} uses no etcd host now: ${s.error ?? ''}`);
      configured[cl.host] = s.etcdHost;
    }
    const mirrors: Home['mirrors'] = {};
    // A mirror that runs on HOST itself is not running (the pre-flight refuses that): its unit goes with the host.
    for (const m of (await mirrorsUsing(run, host)).filter((x) => x.host !== host))
      mirrors[m.datacenter] = { source: m.source, destination: m.destination };
    return {
      srv: await readRecordSet(run, c.srvRecord, 'SRV'),
      configured,
      mirrors,
      hostKey: trustedHostKey(config, host),
    };
  });
}

/** Whether HOST was reimaged already (by this run, an earlier attempt of it): its trusted key changed. */
async function reimaged(run: ReimageRun, host: string): Promise<boolean> {
  return trustedHostKey(run.config(), host) !== (await home(run, host)).hostKey;
}

/**
 * Step 1: refuses unless HOST is a started, healthy member of a healthy cluster, the other
 * datacenter's cluster is healthy (it takes the clients), the config says how to reimage and
 * where the new host key is published, no running etcdmirror runs on HOST, and every host the
 * run touches answers over SSH with its known key (units, directories). Shows the clients and
 * the connections it found. Once HOST was reimaged (a resumed run), it only says so.
 */
export function reimagePreflight(run: ReimageRun, host: string): Step {
  const { cluster, config: c, peerUrl } = memberOf(run, host);
  return check(`Pre-flight: ${host} can be reimaged; the other datacenter can take its clients`, async () => {
    const config = run.config();
    if (!config.reimage)
      throw new CheckError(`reimage.command is not set in ${config.file}: nothing can reimage ${host}`);
    if (!config.clients)
      throw new CheckError(`clients is not set in ${config.file}: the clients to move are not known`);
    const where = await home(run, host);
    if (await reimaged(run, host))
      return `${host} was reimaged by this run already (its host key is no longer ${where.hostKey})`;
    const lines: string[] = [];
    const h = await clusterHealth(run, cluster);
    const me = h.members.find((m) => m.peerURLs.includes(peerUrl));
    if (!me?.started) throw new CheckError(`${host} is not a member of ${cluster} (${describeHealth(h)})`);
    lines.push(assertHealthy(h));
    const other = otherClusterOf(config, cluster);
    lines.push(`takes the clients meanwhile: ${assertHealthy(await clusterHealth(run, other))}`);
    const mirrors = await mirrorsUsing(run, host);
    const runsHere = mirrors.filter((m) => m.host === host && m.active);
    if (runsHere.length)
      throw new CheckError(
        `refused: ${runsHere.map((m) => m.unit).join(', ')} runs on ${host}: move replication to another host first (replication.mirrors.${runsHere[0]!.datacenter})`,
      );
    const clients = clientsOf(config, c.datacenter);
    const targets: PreflightTarget[] = [
      { host, unit: c.unit, dir: c.dataDir, why: `the host to reimage (${c.unit}, ${c.dataDir})` },
      ...clients.map((x) => ({ host: x.host, unit: x.unit, why: `client ${x.unit}` })),
      ...mirrors.map((m) => ({ host: m.host, unit: m.unit, why: `${m.unit} uses ${host}` })),
    ];
    const zone = Object.values(config.dns?.zones ?? {}).find((z) => c.srvRecord.endsWith(`.${z.name}`));
    if (zone?.backend.type === 'zonefile')
      targets.push({ host: zone.backend.host, why: `publishes ${c.srvRecord}` });
    lines.push(await preflightHosts(run, targets));
    lines.push(`host key now (trusted source): ${where.hostKey}`);
    for (const x of clients) {
      const s = await clientStatus(run, x);
      lines.push(
        `client ${x.unit} on ${x.host} (${x.kind}): ${s.etcdHost ?? 'no etcd host'} (${s.cluster ?? '?'})${s.watching ? ', watching' : ', NOT watching'}`,
      );
    }
    for (const m of mirrors)
      lines.push(
        `${m.unit} on ${m.host} uses ${host}: ${m.source} → ${m.destination} (kept off it meanwhile)`,
      );
    lines.push(`using ${host} now: ${describeUse(await hostUse(run, host, { quietMs: 10_000 }))}`);
    return lines.join('\n');
  });
}

/** Moves leadership away from HOST if it leads (the same action etcd.member-remove uses). */
export function moveLeaderStep(run: ReimageRun, host: string): Step {
  const { cluster } = memberOf(run, host);
  return step(`Move leadership away from ${host} if it leads ${cluster}`, async () => {
    if (await reimaged(run, host)) return [];
    return leadershipAway(run, host);
  });
}

function ttlWaitMs(config: GalleyConfig, records: RecordValue[]): number {
  const ttl = (records[0]?.ttl ?? 0) * 1000;
  return Math.min(ttl, config.replication?.ttlWaitMaxMs ?? ttl);
}

/**
 * Steps 2 and 3 (`back: false`), or step 8 (`back: true`): the datacenter's client SRV record
 * at the other cluster (or back home) with its clients restarted in batches; the configured
 * clients re-pointed at a healthy member of the other cluster (or back at their own host);
 * etcdmirror kept off HOST (or given its members back).
 */
export function moveClientsSteps(run: ReimageRun, host: string, o: { back: boolean }): Step[] {
  const { cluster, config: c } = memberOf(run, host);
  const config = run.config();
  const dc = c.datacenter;
  const other = otherClusterOf(config, cluster);
  const batch = {
    batchSize: config.clients?.restartBatchSize ?? 1,
    batchSleepMs: config.clients?.restartBatchSleepMs ?? 0,
  };
  const srvClients = clientsOf(config, dc).filter((x) => x.kind === 'srv');
  const configured = clientsOf(config, dc).filter((x) => x.kind === 'configured');
  const srvStep = step(
    o.back
      ? `Point ${c.srvRecord} back at ${cluster} and restart its clients in batches`
      : `Point ${c.srvRecord} at ${other} and restart its clients in batches`,
    async () => {
      const where = await home(run, host);
      const records = o.back
        ? where.srv
        : await readRecordSet(run, config.etcd.clusters[other]!.srvRecord, 'SRV');
      return [
        moveSrvClients({
          datacenter: dc,
          record: c.srvRecord,
          records,
          toCluster: o.back ? cluster : other,
          clients: srvClients.map(clientRef),
          ...batch,
          ttlWaitMs: ttlWaitMs(config, records),
        }),
      ];
    },
  );
  const configuredStep = step(
    o.back
      ? `Point the configured clients of ${dc} back at their own hosts`
      : `Point the configured clients of ${dc} at ${other}`,
    async () => {
      const where = await home(run, host);
      let to: string | undefined;
      if (!o.back && configured.length) {
        const h = await clusterHealth(run, other);
        to = h.members.find((m) => m.healthy && m.host)?.host;
        if (!to) throw new CheckError(`no healthy member of ${other} can take the configured clients`);
      }
      return configured.map((x): AnyAction =>
        repointClient({
          ...clientRef(x),
          repointCommand: x.repointCommand ?? [],
          to: o.back ? where.configured[x.host]! : to!,
        }),
      );
    },
  );
  const mirrorStep = step(
    o.back ? `Give etcdmirror ${host} back` : `Keep etcdmirror off ${host}`,
    async () => {
      const where = await home(run, host);
      const uses = await mirrorUses(run);
      return Object.entries(where.mirrors).map(([datacenter, lists]) => {
        const m = uses.find((u) => u.datacenter === datacenter)!;
        return setMirrorEndpoints({
          datacenter,
          host: m.host,
          unit: m.unit,
          file: m.file,
          source: o.back ? lists.source : urlsWithout(config, lists.source, host),
          destination: o.back ? lists.destination : urlsWithout(config, lists.destination, host),
          without: o.back ? '' : host,
        });
      });
    },
  );
  return o.back ? [mirrorStep, srvStep, configuredStep] : [srvStep, configuredStep, mirrorStep];
}

/** Step 4: nothing uses etcd on HOST any more (connections to its proxy, recent requests); names what still does, waiting a while. */
export function nothingUsesCheck(run: ReimageRun, host: string): Step {
  return check(
    `Nothing uses etcd on ${host} any more`,
    async () => {
      if (await reimaged(run, host)) return `${host} was reimaged already`;
      const u = await hostUse(run, host, { quietMs: 3000 });
      if (u.connections.length || u.recent.length)
        throw new CheckError(`${host} is still used: ${describeUse(u)}`, {
          suggestions: ['move or stop those clients, then retry'],
        });
      return `no client connection to ${host}'s proxy, no request in its access log in the last 3 s`;
    },
    { timeoutMs: run.config().clients?.drainTimeoutMs ?? 120_000, intervalMs: 1000 },
  );
}

/**
 * Step 5: the reimage itself (irreversible; the point of no return), then the host's new key,
 * learned from the trusted source only.
 */
export function reimageSteps(run: ReimageRun, host: string): Step[] {
  return [
    reimageStep(run, host),
    step(`Learn the new host key of ${host} from the trusted source`, [learnHostKey({ host })]),
  ];
}

function reimageStep(run: ReimageRun, host: string): Step {
  return step(
    `Reimage ${host}`,
    async () => {
      const config = run.config();
      const r = config.reimage;
      if (!r) throw new CheckError(`reimage.command is not set in ${config.file}`);
      return [
        reimageHost({
          host,
          command: [...r.command, host],
          timeoutMs: r.timeoutMs,
          fromKey: (await home(run, host)).hostKey,
        }),
      ];
    },
    { pointOfNoReturn: true },
  );
}

/** Every key and value (and index) a member serves, flattened. */
function flatten(n: EtcdNode | undefined, out: Record<string, string> = {}): Record<string, string> {
  if (!n) return out;
  if (!n.dir && n.key) out[n.key] = `${n.modifiedIndex} ${n.value ?? ''}`;
  for (const x of n.nodes ?? []) flatten(x, out);
  return out;
}

/** Step 7: all members healthy, one leader, the same data on every member. */
export function sameDataCheck(run: ReimageRun, host: string): Step {
  const { cluster, config: c } = memberOf(run, host);
  return check(
    `${cluster}: every member healthy, one leader, the same data on every member`,
    async () => {
      const h = await clusterHealth(run, cluster);
      const line = assertHealthy(h, c.members.length);
      const leaders = new Set(h.members.map((m) => m.leaderId).filter(Boolean));
      if (leaders.size !== 1) throw new CheckError(`${cluster}: the members name ${leaders.size} leaders`);
      const trees = await Promise.all(
        c.members.map(async (m) =>
          flatten((await memberClient(run, cluster, m).get('/', { recursive: true, sorted: true })).node),
        ),
      );
      // Compared key by key, in key order (a member may list a directory's nodes in any order).
      const canonical = (t: Record<string, string>) => JSON.stringify(Object.entries(t).sort());
      const first = canonical(trees[0]!);
      const differ = c.members.filter((_, i) => canonical(trees[i]!) !== first);
      if (differ.length)
        throw new CheckError(`${cluster}: ${differ.join(', ')} do not hold the same keys as ${c.members[0]}`);
      return `${line}; ${Object.keys(trees[0]!).length} keys, identical on ${c.members.length} members`;
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
}

/** The last check: every client of the datacenter is home and watches; replication runs. */
export function clientsHomeCheck(run: ReimageRun, host: string): Step {
  const { cluster, config: c } = memberOf(run, host);
  return check(
    `Every client of ${c.datacenter} is back on ${cluster}; replication runs`,
    async () => {
      const config = run.config();
      const lines: string[] = [];
      for (const x of clientsOf(config, c.datacenter)) {
        const s = await clientStatus(run, x);
        if (s.cluster !== cluster || !s.watching)
          throw new CheckError(
            `${x.unit} on ${x.host} uses ${s.etcdHost ?? 'nothing'} (${s.cluster ?? '?'}), not ${cluster}`,
          );
        lines.push(`${x.unit} on ${x.host}: ${s.etcdHost}`);
      }
      const r = await replicationStatus(config);
      const running = r?.mirrors.filter((m) => m.running) ?? [];
      if (r && r.mirrors.length && !running.length) throw new CheckError('replication is NOT RUNNING');
      if (running.length)
        lines.push(
          `replication: ${running.map((m) => `into ${m.datacenter}, lag ${m.lag ?? '?'}`).join('; ')}`,
        );
      return lines.join('\n');
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
}

/** What holds at every end of a reimage run: the clients of the datacenter watch a cluster with its quorum. */
export function reimageSafeState(run: ReimageRun, host: string): SafeState {
  const { config: c } = memberOf(run, host);
  return {
    title: `every client of ${c.datacenter} watches a cluster that has its quorum`,
    async check() {
      const config = run.config();
      const problems: string[] = [];
      const quorum = new Map<string, boolean>();
      for (const x of clientsOf(config, c.datacenter)) {
        const s = await clientStatus(run, x);
        if (!s.cluster || !s.watching) {
          problems.push(`${x.unit} on ${x.host} watches nothing (${s.etcdHost ?? s.error ?? '?'})`);
          continue;
        }
        if (!quorum.has(s.cluster)) quorum.set(s.cluster, (await clusterHealth(run, s.cluster)).quorum);
        if (!quorum.get(s.cluster))
          problems.push(`${x.unit} on ${x.host} uses ${s.cluster}, which has no quorum`);
      }
      if (problems.length) throw new CheckError(problems.join('; '));
      return 'every client watches a cluster with its quorum';
    },
    restore: () => [`cookbook resume RUN finishes the reimage (it moves the clients back)`],
  };
}
