import { setRecordSet } from '../../src/actions/dns.js';
import { readMembers, removeMember } from '../../src/actions/etcd.js';
import { checkClusterHealthy, memberOf, membershipLock } from '../../src/actions/membership.js';
import { ensureService } from '../../src/actions/remote.js';
import { arg, check, defineCookbook, step } from '../../src/core/cookbook.js';
import { CheckError } from '../../src/core/errors.js';
import { observeRRset } from '../../src/dns/index.js';

/**
 * "Removing a member from the cluster" of the Etcd runbook: check it is not the leader, take
 * it out of the clients' SRV record, remove it from the cluster, stop its etcd.
 */
export default defineCookbook({
  title: 'Remove a member from its etcd cluster (refusing the leader)',
  description:
    'Checks the cluster is healthy and HOST is not its leader, removes HOST from the SRV record clients use, removes the member, stops etcd on HOST and checks the cluster is healthy without it. Removing a member is irreversible: it rejoins with etcd.member-add.',
  examples: [
    'cookbook etcd.member-remove conf2006.codfw.wmnet --dry-run',
    'cookbook etcd.member-remove conf2006.codfw.wmnet -t T332010',
  ],
  args: {
    host: arg.host({ description: 'the member to remove', positional: true }),
  },
  lock: (args) => membershipLock(args.host),
  steps: (ctx) => {
    const { host } = ctx.args;
    const { cluster, config: c, peerUrl } = memberOf(ctx, host);
    const members = async () => (await readMembers(ctx, cluster)).members;
    return [
      check(`${cluster} is healthy and ${host} is a member, not the leader`, async () => {
        const now = await members();
        const me = now.find((m) => m.peerURLs.includes(peerUrl));
        if (!me) throw new CheckError(`${host} (${peerUrl}) is not a member of ${cluster}`);
        if (now.length < 2)
          throw new CheckError(
            `${host} is the only member of ${cluster}: removing it would destroy the cluster`,
          );
        const health = await checkClusterHealthy(ctx, cluster);
        if (health.endsWith(`leader ${me.name}`))
          throw new CheckError(
            `${host} is the leader of ${cluster}: move leadership first (restart etcd on it), as the runbook says`,
          );
        return health;
      }),
      step(`Remove ${host} from ${c.srvRecord}`, async () => {
        const current = (await observeRRset(ctx.config(), c.srvRecord, 'SRV')).records ?? [];
        const kept = current.filter(
          (r) => typeof r.data !== 'object' || !('target' in r.data) || r.data.target !== host,
        );
        return [setRecordSet({ name: c.srvRecord, type: 'SRV', records: kept })];
      }),
      step(`Remove ${host} from the ${cluster} cluster`, [removeMember({ cluster, host, peerUrl })]),
      step(`Stop etcd on ${host}`, [ensureService({ host, unit: c.unit, state: 'inactive' })]),
      check(`${cluster} is healthy without ${host}`, async () => checkClusterHealthy(ctx, cluster), {
        timeoutMs: 20_000,
      }),
    ];
  },
});
