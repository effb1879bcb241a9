import { setRecordSet, setRecordTtl } from '../../src/actions/dns.js';
import { setProxyMode, checkProxyMode, clusterOfDatacenter } from '../../src/actions/proxy.js';
import { ensureService, unitState } from '../../src/actions/remote.js';
import {
  checkReplicaHoldsSource,
  checkReplicationFlows,
  replicationIndexKey,
  setReplicationIndex,
} from '../../src/actions/replication.js';
import { arg, check, defineCookbook, step } from '../../src/core/cookbook.js';
import { CheckError, UsageError } from '../../src/core/errors.js';
import { observeRRset } from '../../src/dns/index.js';

/** The TTL of the conftool SRV record while clients move (step 1 of the runbook). */
const SWITCH_TTL_SECONDS = 10;

/**
 * The master cluster switchover of the "Etcd/Main cluster" runbook (codfw → eqiad here; swap
 * for the other way). Writes stop only between "make FROM read-only" and "make TO
 * read-write", and the replica is checked to hold every key before it takes over.
 */
export default defineCookbook({
  title: 'Switch the etcd master from one datacenter to the other (read-only window, replication reversed)',
  description:
    "Lowers the conftool SRV TTL, makes FROM read-only, waits until TO holds everything, stops replication into TO, points the conftool SRV record at TO, records TO's index in FROM and starts replication into FROM, makes TO read-write, checks that writes flow TO → FROM, and restores the TTL. Every step is verified; a failure rolls everything back.",
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
  lock: () => ({ name: 'etcd.switchover', ttlMs: 120_000 }),
  steps: (ctx) => {
    const { from, to } = ctx.args;
    const config = ctx.config();
    const replication = config.replication;
    if (!replication) throw new CheckError(`${config.file} has no replication section: nothing to switch`);
    const conftool = replication.rwSrvRecord;
    const mirrorIntoTo = replication.mirrors[to];
    const mirrorIntoFrom = replication.mirrors[from];
    if (!mirrorIntoTo || !mirrorIntoFrom)
      throw new CheckError(`replication.mirrors needs an entry for ${from} and for ${to}`);
    const toCluster = config.etcd.clusters[clusterOfDatacenter(config, to)]!;
    const ttlBefore = () =>
      ctx.fact(
        'conftool SRV TTL before the switch',
        async () => (await observeRRset(config, conftool, 'SRV')).records?.[0]?.ttl ?? 300,
      );

    return [
      check(`${from} is the master: read-write, with replication running into ${to}`, async () => {
        await checkProxyMode(ctx, from, 'read-write');
        await checkProxyMode(ctx, to, 'read-only');
        const state = await unitState(ctx, mirrorIntoTo.host, mirrorIntoTo.unit);
        if (state !== 'active')
          throw new CheckError(
            `${mirrorIntoTo.unit} on ${mirrorIntoTo.host} is ${state}: replication ${from} → ${to} is not running`,
          );
        return `${from} read-write, ${to} read-only, ${mirrorIntoTo.unit} active`;
      }),
      step(`Reduce the TTL of ${conftool} to ${SWITCH_TTL_SECONDS}s`, async () => {
        await ttlBefore();
        return [setRecordTtl({ name: conftool, type: 'SRV', ttlSeconds: SWITCH_TTL_SECONDS })];
      }),
      step(`Make ${from} read-only`, [setProxyMode(config, from, 'read-only')]),
      check(`${from} refuses writes`, () => checkProxyMode(ctx, from, 'read-only'), { timeoutMs: 5000 }),
      check(`${to} holds everything ${from} holds`, () => checkReplicaHoldsSource(ctx, from, to), {
        timeoutMs: 30_000,
      }),
      step(`Stop replication into ${to}`, [
        ensureService({ host: mirrorIntoTo.host, unit: mirrorIntoTo.unit, state: 'inactive' }),
      ]),
      step(`Point ${conftool} at ${to}`, [
        setRecordSet({
          name: conftool,
          type: 'SRV',
          records: toCluster.members.map((target) => ({
            ttl: SWITCH_TTL_SECONDS,
            data: { priority: 0, weight: 1, port: toCluster.proxyPort, target },
          })),
        }),
      ]),
      step(`Record ${to}'s etcd index in ${from}, where replication will start`, [
        setReplicationIndex({
          cluster: clusterOfDatacenter(config, from),
          key: replicationIndexKey(replication.dstPrefix),
          sourceCluster: toCluster.name,
        }),
      ]),
      step(`Start replication into ${from}`, [
        ensureService({ host: mirrorIntoFrom.host, unit: mirrorIntoFrom.unit, state: 'active' }),
      ]),
      step(`Make ${to} read-write`, [setProxyMode(config, to, 'read-write')]),
      check(`Writes through ${to} reach ${from}`, () => checkReplicationFlows(ctx, to, from, ctx.runId), {
        timeoutMs: 30_000,
      }),
      step(`Restore the TTL of ${conftool}`, async () => [
        setRecordTtl({ name: conftool, type: 'SRV', ttlSeconds: await ttlBefore() }),
      ]),
    ];
  },
});
