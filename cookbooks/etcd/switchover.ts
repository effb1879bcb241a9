import {
  expireSilenceStep,
  noAlertsCheck,
  replicationAlertMatchers,
  silenceStep,
} from '../../src/actions/alerting.js';
import {
  readRecordSet,
  checkRecordSetAgreed,
  setRecordSet,
  setRecordTtl,
  waitOutTtl,
} from '../../src/actions/dns.js';
import {
  checkProxyMode,
  checkQuorum,
  clusterOfDatacenter,
  proxyModes,
  registerProxyUndoGuard,
  setProxyMode,
} from '../../src/actions/proxy.js';
import { ensureService, unitState } from '../../src/actions/remote.js';
import {
  checkCaughtUp,
  checkReplicationFlows,
  checkReplicationRunning,
  replicationIndexKey,
  setReplicationIndex,
  startReplication,
} from '../../src/actions/replication.js';
import { ordered } from '../../src/core/action.js';
import {
  arg,
  check,
  defineCookbook,
  step,
  type CookbookContext,
  type SafeState,
} from '../../src/core/cookbook.js';
import { CheckError, GuardError, UsageError } from '../../src/core/errors.js';

/** The TTL of the conftool SRV record while clients move (step 1 of the runbook). */
const SWITCH_TTL_SECONDS = 10;

/**
 * The undo guard of "make TO read-write": TO goes back to read-only (and FROM gets the writes
 * back) only once FROM provably holds everything TO acknowledged. Otherwise TO stays the
 * master, and so does everything that depends on it (ordered below), exit 93.
 */
registerProxyUndoGuard('etcd.switchover:from-holds-to', async (p, env) => {
  const from = p.undoGuard!.args.from!;
  try {
    await checkCaughtUp(env, p.datacenter, from, 15_000);
  } catch (e) {
    throw new GuardError(
      `${p.datacenter} stays read-write: ${from} does not provably hold every write ${p.datacenter} acknowledged (${e instanceof Error ? e.message : String(e)}); making ${from} the master again now would lose them`,
      [
        `repair replication ${p.datacenter} → ${from} (cookbook etcd.status), then cookbook rollback RUN again; or finish the switchover by hand`,
      ],
    );
  }
});

type Ctx = CookbookContext<{ from: string; to: string }>;

/** What a switchover needs from the config, checked once. */
function topology(ctx: Ctx) {
  const { from, to } = ctx.args;
  const config = ctx.config();
  const replication = config.replication;
  if (!replication) throw new CheckError(`${config.file} has no replication section: nothing to switch`);
  const mirrorIntoTo = replication.mirrors[to];
  const mirrorIntoFrom = replication.mirrors[from];
  if (!mirrorIntoTo || !mirrorIntoFrom)
    throw new CheckError(`replication.mirrors needs an entry for ${from} and for ${to}`);
  return {
    config,
    replication,
    conftool: replication.rwSrvRecord,
    mirrorIntoTo,
    mirrorIntoFrom,
    toCluster: config.etcd.clusters[clusterOfDatacenter(config, to)]!,
  };
}

/** A datacenter's mode as its live proxies answer: read-write, read-only, or mixed. */
async function datacenterMode(ctx: Ctx, dc: string): Promise<{ mode: string; down: string[] }> {
  const modes = Object.entries(await proxyModes(ctx, dc));
  const live = [...new Set(modes.filter(([, m]) => m !== 'down').map(([, m]) => m))];
  return {
    mode: live.length === 1 ? live[0]! : live.length ? 'mixed' : 'down',
    down: modes.filter(([, m]) => m === 'down').map(([h]) => h),
  };
}

/**
 * The invariant at every end of a run: exactly one datacenter read-write, and replication
 * running from it into the other (verified by its effect: a write arriving, the lag small).
 */
function safeState(ctx: Ctx): SafeState {
  const { from, to } = ctx.args;
  return {
    title: 'exactly one datacenter read-write, replication running from it into the other',
    async check() {
      const t = topology(ctx);
      const [f, o] = [await datacenterMode(ctx, from), await datacenterMode(ctx, to)];
      const rw = [
        f.mode !== 'read-only' && f.mode !== 'down' ? from : undefined,
        o.mode !== 'read-only' && o.mode !== 'down' ? to : undefined,
      ].filter((x): x is string => !!x);
      if (rw.length !== 1) {
        throw new CheckError(
          `${rw.length === 0 ? 'BOTH datacenters are read-only' : 'BOTH datacenters accept writes'}: ${from} ${f.mode}, ${to} ${o.mode}`,
        );
      }
      const master = rw[0]!;
      const replica = master === from ? to : from;
      await checkReplicationRunning(ctx, master, replica, t.replication.maxLagEvents, 10_000);
      await checkReplicationFlows(ctx, master, replica, `${ctx.runId} (safe state)`, 15_000, 'local');
      const mixed = [f, o].some((x) => x.mode === 'mixed')
        ? '; WARNING: some proxies of the master are read-only'
        : '';
      return `${master} is the only read-write datacenter; replication ${master} → ${replica} runs${mixed}`;
    },
    restore(problem) {
      const t = topology(ctx);
      const both = /BOTH datacenters are read-only/.test(problem);
      return [
        'cookbook etcd.status   # which datacenter holds the newest writes, and where replication runs',
        ...(both
          ? [
              `make the datacenter holding every acknowledged write read-write again: on each of its members, write the read-write content into the proxy's read-only switch file and run \`${t.config.proxy?.readOnlySwitch.reloadCommand.join(' ')}\``,
            ]
          : []),
        `replication into ${to}: systemctl start ${t.mirrorIntoTo.unit} on ${t.mirrorIntoTo.host}; into ${from}: systemctl start ${t.mirrorIntoFrom.unit} on ${t.mirrorIntoFrom.host} (only the one out of the master)`,
        'cookbook runs RUN   # what this run left applied; cookbook rollback RUN once replication caught up',
      ];
    },
  };
}

/**
 * The master cluster switchover of the "Etcd/Main cluster" runbook (codfw → eqiad here; swap
 * for the other way). Nothing changes until every precondition holds; writes stop only
 * between "make FROM read-only" and "make TO read-write"; no acknowledged write is lost
 * (a rollback gives the writes back to FROM only once FROM provably holds what TO took).
 */
export default defineCookbook({
  title: 'Switch the etcd master from one datacenter to the other (read-only window, replication reversed)',
  description:
    "Checks both clusters, replication and DNS first (a refusal changes nothing), lowers the conftool SRV TTL and waits the old one out, makes FROM read-only, waits until TO holds everything, stops replication into TO, points the conftool SRV record at TO, records TO's index in FROM and starts replication into FROM (verified by a write arriving), makes TO read-write, checks that writes flow TO → FROM, and restores the TTL. A member down is tolerated while its cluster has quorum. Every step is verified; a failure rolls back without losing a write, and the run always ends with exactly one datacenter read-write and replication out of it.",
  examples: [
    'cookbook etcd.switchover --from codfw --to eqiad --dry-run --plan-out switch',
    'cookbook etcd.switchover --from codfw --to eqiad -t T358636 -r "DC switch" --plan switch.json',
  ],
  args: {
    from: arg.datacenter({ description: 'the current master datacenter' }),
    to: arg.datacenter({ description: 'the datacenter that becomes the master' }),
  },
  validate: (args) => {
    if (args.from === args.to)
      throw new UsageError(`--from and --to are both ${args.from}: name two different datacenters`);
  },
  // One lock for everything that changes the conftool master, whichever way (taken in every cluster).
  lock: () => ({ name: 'etcd.conftool-master', ttlMs: 120_000 }),
  safeState,
  steps: (ctx) => {
    const { from, to } = ctx.args;
    const t = topology(ctx);
    const { config, conftool, mirrorIntoTo, mirrorIntoFrom, toCluster } = t;
    const ttlBefore = () =>
      ctx.fact(
        'conftool SRV TTL before the switch',
        async () => (await readRecordSet(ctx, conftool, 'SRV'))[0]?.ttl ?? 300,
      );
    const refuse = async (what: () => Promise<string>) => {
      try {
        return await what();
      } catch (e) {
        if (e instanceof CheckError)
          throw new CheckError(`${e.message}: nothing was changed`, { suggestions: e.suggestions });
        throw e;
      }
    };
    const cap = t.replication.ttlWaitMaxMs;
    const replicationMatchers = replicationAlertMatchers([from, to]);

    return [
      // Preconditions: nothing changes unless all of them hold.
      check(`Both clusters healthy with quorum`, () =>
        refuse(async () => {
          const lines = [(await checkQuorum(ctx, from)).line, (await checkQuorum(ctx, to)).line];
          return lines.join('; ');
        }),
      ),
      check(`${from} is the master: every live proxy of ${from} read-write, of ${to} read-only`, () =>
        refuse(
          async () =>
            `${await checkProxyMode(ctx, from, 'read-write')}; ${await checkProxyMode(ctx, to, 'read-only')}`,
        ),
      ),
      check(
        `Replication ${from} → ${to} runs with its lag under ${t.replication.maxLagEvents} events, none into ${from}`,
        () =>
          refuse(async () => {
            const into = await unitState(ctx, mirrorIntoFrom.host, mirrorIntoFrom.unit);
            if (into === 'active')
              throw new CheckError(
                `${mirrorIntoFrom.unit} on ${mirrorIntoFrom.host} is active: something replicates into ${from}, the master`,
              );
            return checkReplicationRunning(ctx, from, to, t.replication.maxLagEvents);
          }),
      ),
      check(`${conftool} SRV identical on every authoritative DNS server`, () =>
        refuse(() => checkRecordSetAgreed(ctx, conftool, 'SRV')),
      ),

      step(`Reduce the TTL of ${conftool} to ${SWITCH_TTL_SECONDS}s`, async () => {
        await ttlBefore();
        return [setRecordTtl({ name: conftool, type: 'SRV', ttlSeconds: SWITCH_TTL_SECONDS })];
      }),
      check(
        `Wait out the old TTL of ${conftool} (clients cached it)${cap === undefined ? '' : `, at most ${cap / 1000}s (replication.ttl_wait_max)`}`,
        async () => waitOutTtl(ctx, await ttlBefore(), cap, conftool),
      ),
      // [alerting] the runbook's "downtime the replication lag alert", for both datacenters.
      silenceStep(ctx, `Silence the replication alerts of ${from} and ${to}`, {
        key: 'etcd replication',
        matchers: replicationMatchers,
        comment: `etcd.switchover ${from} → ${to}`,
      }),
      step(`Make ${from} read-only`, [
        ordered(setProxyMode(config, from, 'read-only'), { id: 'from-read-only' }),
      ]),
      check(`${from} refuses writes`, () => checkProxyMode(ctx, from, 'read-only'), { timeoutMs: 5000 }),
      check(`${to} holds everything ${from} acknowledged`, () => checkCaughtUp(ctx, from, to, 20_000)),
      step(`Stop replication into ${to}`, [
        ordered(ensureService({ host: mirrorIntoTo.host, unit: mirrorIntoTo.unit, state: 'inactive' }), {
          id: 'stop-replication-into-to',
          undoBefore: ['from-read-only'],
        }),
      ]),
      step(`Point ${conftool} at ${to}`, [
        ordered(
          setRecordSet({
            name: conftool,
            type: 'SRV',
            records: toCluster.members.map((target) => ({
              ttl: SWITCH_TTL_SECONDS,
              data: { priority: 0, weight: 1, port: toCluster.proxyPort, target },
            })),
          }),
          { id: 'conftool-to', undoBefore: ['from-read-only'] },
        ),
      ]),
      step(`Record ${to}'s etcd index in ${from}, where replication will start`, [
        ordered(
          setReplicationIndex({
            cluster: clusterOfDatacenter(config, from),
            key: replicationIndexKey(t.replication.dstPrefix),
            sourceCluster: toCluster.name,
          }),
          { id: 'index-in-from' },
        ),
      ]),
      step(`Start replication into ${from} (verified by a write through ${to} arriving)`, [
        ordered(
          startReplication({
            host: mirrorIntoFrom.host,
            unit: mirrorIntoFrom.unit,
            sourceDc: to,
            replicaDc: from,
            maxLag: t.replication.maxLagEvents,
            runId: ctx.runId,
          }),
          {
            id: 'replication-into-from',
            undoBefore: ['index-in-from', 'stop-replication-into-to', 'conftool-to', 'from-read-only'],
          },
        ),
      ]),
      step(`Make ${to} read-write`, [
        ordered(
          setProxyMode(config, to, 'read-write', {
            undoGuard: { name: 'etcd.switchover:from-holds-to', args: { from } },
          }),
          {
            id: 'to-read-write',
            undoBefore: [
              'replication-into-from',
              'from-read-only',
              'conftool-to',
              'stop-replication-into-to',
            ],
          },
        ),
      ]),
      check(`Writes through ${to} reach ${from}`, () => checkReplicationFlows(ctx, to, from, ctx.runId), {
        timeoutMs: 30_000,
      }),
      expireSilenceStep(ctx, `Remove the silence of the replication alerts`, {
        key: 'etcd replication',
        matchers: replicationMatchers,
      }),
      step(`Restore the TTL of ${conftool}`, async () => [
        setRecordTtl({ name: conftool, type: 'SRV', ttlSeconds: await ttlBefore() }),
      ]),
      noAlertsCheck(ctx, `No replication alert fires`, replicationMatchers),
    ];
  },
});
