/**
 * What a switchover changes, as seen from outside, for the e2e tests and the benchmark:
 * each datacenter's proxies (as their live members answer), the mirror into it, and where the
 * conftool SRV record points with which TTL (on every authoritative server).
 */
import { proxyModes } from '../../src/actions/proxy.js';
import { unitState } from '../../src/actions/remote.js';
import type { ActionEnv } from '../../src/core/action.js';
import { observeRRset } from '../../src/dns/index.js';

export type DcState = { mode: string; mirrorInto: string };
export type WorldView = Record<string, DcState> & { conftoolTtl: number; conftoolDc: string };

export async function world(env: ActionEnv): Promise<WorldView> {
  const config = env.config();
  const out: Record<string, unknown> = {};
  for (const dc of config.datacenters) {
    const modes = [...new Set(Object.values(await proxyModes(env, dc)).filter((m) => m !== 'down'))];
    const m = config.replication!.mirrors[dc]!;
    out[dc] = {
      mode: modes.length === 1 ? modes[0] : modes.length ? 'mixed' : 'down',
      mirrorInto: await unitState(env, m.host, m.unit),
    };
  }
  const srv = await observeRRset(config, config.replication!.rwSrvRecord, 'SRV');
  const answered = srv.servers.filter((s) => s.records);
  const ttls = new Set(answered.flatMap((s) => s.records!.map((r) => r.ttl)));
  const dcs = new Set(
    answered.flatMap((s) =>
      s.records!.map(
        (r) => config.hosts[(r.data as { target: string }).target.replace(/\.$/, '')]?.datacenter ?? '?',
      ),
    ),
  );
  out.conftoolTtl = ttls.size === 1 ? [...ttls][0] : -1;
  out.conftoolDc = dcs.size === 1 ? [...dcs][0] : answered.length ? 'mixed' : 'unreachable';
  return out as WorldView;
}
