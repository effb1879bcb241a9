import { randomBytes } from 'node:crypto';
import type { GalleyConfig } from '../config/schema.js';
import { defineAction, type ActionEnv } from '../core/action.js';
import { CheckError, ConfigError } from '../core/errors.js';
import {
  EtcdAllEndpointsFailedError,
  EtcdCompareFailedError,
  EtcdHttpError,
  EtcdKeyNotFoundError,
  EtcdUnreachableError,
  EtcdReadOnlyError,
  etcdClientFor,
  type EtcdClient,
} from '../etcd/index.js';
import { waitUntil } from '../util/wait.js';
import { argvCommand } from '../ssh/command.js';
import { mutateOn, readRemoteFile } from './remote.js';

/**
 * The proxy's read-only switch of a datacenter. The mechanism comes from the config
 * (proxy.read_only_switch: a file on every member, and a reload command); the effect is
 * verified from outside, through each member's proxy.
 */

export type ProxyMode = 'read-only' | 'read-write';

export function clusterOfDatacenter(config: GalleyConfig, datacenter: string): string {
  const c = Object.values(config.etcd.clusters).find((x) => x.datacenter === datacenter);
  if (!c)
    throw new ConfigError(`no etcd cluster in datacenter ${datacenter}`, [
      `clusters: ${Object.keys(config.etcd.clusters).join(', ')}`,
    ]);
  return c.name;
}

function switchConfig(config: GalleyConfig) {
  if (!config.proxy)
    throw new ConfigError(
      `${config.file} has no proxy.read_only_switch: the read-only switch is not configured`,
    );
  return config.proxy;
}

/** A client that talks to one member's proxy only. */
export function memberProxyClient(env: ActionEnv, cluster: string, host: string): EtcdClient {
  return env.service(
    `etcd:${cluster}:proxy:${host}`,
    () => etcdClientFor(env.config(), cluster, { via: 'proxy', members: [host], timeoutMs: 3000 }),
    (c) => c.close(),
  );
}

/**
 * What a member's proxy does with a write, found without changing anything: a compare-and-swap
 * on the canary key with a value it cannot hold. Read-only proxies refuse it with errorCode 107;
 * read-write ones pass it to etcd, which refuses the comparison.
 */
export async function probeProxyMode(env: ActionEnv, cluster: string, host: string): Promise<ProxyMode> {
  const canary = switchConfig(env.config()).canaryKey;
  try {
    await memberProxyClient(env, cluster, host).compareAndSwap(canary, 'probe', {
      prevValue: `galley-never-${randomBytes(8).toString('hex')}`,
    });
    return 'read-write';
  } catch (e) {
    if (e instanceof EtcdReadOnlyError) return 'read-only';
    if (e instanceof EtcdCompareFailedError || e instanceof EtcdKeyNotFoundError) return 'read-write';
    throw e;
  }
}

interface SwitchState {
  /** Per member: the switch file's content (undefined: absent). */
  files: Record<string, string | null>;
  /** Members whose etcd does not answer (their proxy is switched, but cannot be verified). */
  down?: string[];
}

/** Whether a member's etcd answers healthy on its local client port (1 s, no retries). */
export async function memberAnswers(env: ActionEnv, cluster: string, host: string): Promise<boolean> {
  const c = env.service(
    `etcd:${cluster}:local:${host}`,
    () => etcdClientFor(env.config(), cluster, { via: 'local', members: [host], timeoutMs: 1000 }),
    (x) => x.close(),
  );
  try {
    return (await c.health()).healthy;
  } catch {
    return false;
  }
}

/** The members of a cluster whose etcd does not answer (read-only). */
export async function downMembers(env: ActionEnv, cluster: string): Promise<string[]> {
  const members = env.config().etcd.clusters[cluster]?.members ?? [];
  const ok = await Promise.all(members.map((h) => memberAnswers(env, cluster, h)));
  return members.filter((_, i) => !ok[i]);
}

/**
 * Checks a guard before an undo; the switchover uses it on "make TO read-write": undone only
 * when FROM holds everything TO acknowledged (see checkCaughtUp in replication.ts).
 */
export type ProxyUndoGuard = (params: ReadOnlyParams, env: ActionEnv) => Promise<void>;
const undoGuards = new Map<string, ProxyUndoGuard>();

/** Registers a named undo guard for proxy switches (named, so that a journal can name it). */
export function registerProxyUndoGuard(name: string, guard: ProxyUndoGuard): void {
  undoGuards.set(name, guard);
}

function modeOf(config: GalleyConfig, content: string | null): ProxyMode | 'unknown' {
  const s = switchConfig(config).readOnlySwitch;
  const c = content ?? '';
  if (c.trim() === s.readOnlyContent.trim()) return 'read-only';
  if (c.trim() === s.readWriteContent.trim()) return 'read-write';
  return 'unknown';
}

export interface ReadOnlyParams {
  datacenter: string;
  mode: ProxyMode;
  /** Members of the datacenter's cluster (filled in by {@link setProxyMode}'s helper so that plans are pure). */
  hosts: string[];
  readOnlyContent: string;
  readWriteContent: string;
  /** A guard (registered with {@link registerProxyUndoGuard}) checked before the undo. */
  undoGuard?: { name: string; args: Record<string, string> };
}

/** Sets a datacenter's proxies read-only or read-write. */
export const setProxyModeAction = defineAction<ReadOnlyParams, SwitchState>({
  kind: 'proxy.set-mode',
  describe: (p) => `${p.datacenter}: make the etcd proxies ${p.mode}`,
  async observe(p, env) {
    const file = switchConfig(env.config()).readOnlySwitch.file;
    const cluster = clusterOfDatacenter(env.config(), p.datacenter);
    const [entries, down] = await Promise.all([
      Promise.all(
        p.hosts.map(async (h) => [h, (await readRemoteFile(env, h, file)).content ?? null] as const),
      ),
      downMembers(env, cluster),
    ]);
    return { files: Object.fromEntries(entries), down: down.filter((h) => p.hosts.includes(h)) };
  },
  plan(p, b) {
    const want = p.mode === 'read-only' ? p.readOnlyContent : p.readWriteContent;
    return p.hosts
      .filter((h) => (b.files[h] ?? '').trim() !== want.trim())
      .map((h) => {
        const c = b.files[h] ?? '';
        const now =
          c.trim() === p.readOnlyContent.trim()
            ? 'read-only'
            : c.trim() === p.readWriteContent.trim()
              ? 'read-write'
              : `unknown (${JSON.stringify(c)})`;
        const down = (b.down ?? []).includes(h);
        return {
          subject: `${h} proxy`,
          from: now,
          to: p.mode,
          ...(down ? { detail: `etcd on ${h} is down: switched, verified only on the live members` } : {}),
        };
      });
  },
  resource: (p) => `proxy:${p.datacenter}`,
  after: (p, b) => ({
    ...b,
    files: Object.fromEntries(
      p.hosts.map((h) => [h, p.mode === 'read-only' ? p.readOnlyContent : p.readWriteContent]),
    ),
  }),
  comparable: (s) => s.files,
  async guardUndo(p, _b, env) {
    if (!p.undoGuard) return;
    const g = undoGuards.get(p.undoGuard.name);
    if (!g) throw new Error(`unknown proxy undo guard ${p.undoGuard.name}`);
    await g(p, env);
  },
  async apply(p, _b, env) {
    const s = switchConfig(env.config()).readOnlySwitch;
    const content = p.mode === 'read-only' ? p.readOnlyContent : p.readWriteContent;
    await Promise.all(p.hosts.map((h) => writeAndReload(env, h, s.file, content, s.reloadCommand)));
  },
  async verify(p, _b, env) {
    const cluster = clusterOfDatacenter(env.config(), p.datacenter);
    const live = await verifyLive(env, cluster, p.hosts, p.mode);
    if (p.mode === 'read-write') {
      // The runbook's check: a real write through the proxy succeeds.
      const canary = switchConfig(env.config()).canaryKey;
      for (const h of live)
        await memberProxyClient(env, cluster, h).set(
          canary,
          `written through ${h} at ${new Date().toISOString()}`,
        );
    }
  },
  async undo(p, b, env) {
    const s = switchConfig(env.config()).readOnlySwitch;
    await Promise.all(
      p.hosts.map(async (h) => {
        const before = b.files[h];
        if (before === null || before === undefined)
          await mutateOn(env, h, argvCommand(['rm', '-f', '--', s.file]));
        else await writeAndReload(env, h, s.file, before, s.reloadCommand);
        if (before === null || before === undefined) await mutateOn(env, h, argvCommand(s.reloadCommand));
      }),
    );
  },
  async verifyUndo(p, b, env) {
    const cluster = clusterOfDatacenter(env.config(), p.datacenter);
    const modes = new Set(p.hosts.map((h) => modeOf(env.config(), b.files[h] ?? null)));
    const was = [...modes][0];
    if (modes.size === 1 && was && was !== 'unknown') {
      await verifyLive(env, cluster, p.hosts, was);
      return;
    }
    await Promise.all(
      p.hosts.map(async (h) => {
        const m = modeOf(env.config(), b.files[h] ?? null);
        if (m !== 'unknown') await verifyLive(env, cluster, [h], m);
      }),
    );
  },
});

/** How long a verification waits for any member to answer: a leader election's worth, with margin. */
const ELECTION_WAIT_MS = 15_000;

/**
 * Waits until the proxy of every live member answers as `mode`; a member whose etcd does not
 * answer (its proxy gives 502) is named in a warning and left out. Returns the live members.
 * Fails when no member answers at all.
 */
async function verifyLive(
  env: ActionEnv,
  cluster: string,
  hosts: string[],
  mode: ProxyMode,
): Promise<string[]> {
  type Result = { h: string; ok: boolean };
  const down = (rs: Result[]) => rs.filter((r) => !r.ok).map((r) => r.h);
  // While the members elect a leader (the old one just died), none answers healthy: that is not
  // "every member down". Ask again until one answers or the election has had time to end.
  const results = await waitUntil<Result[]>({
    what: `a member of ${cluster} to answer`,
    probe: () =>
      Promise.all(
        hosts.map(async (h) => {
          if (!(await memberAnswers(env, cluster, h))) return { h, ok: false };
          try {
            await waitForMode(env, cluster, h, mode);
            return { h, ok: true };
          } catch (e) {
            if (await memberAnswers(env, cluster, h)) throw e;
            return { h, ok: false };
          }
        }),
      ),
    until: (rs) => rs.some((r) => r.ok),
    timeoutMs: ELECTION_WAIT_MS,
    intervalMs: 200,
    maxIntervalMs: 200,
    signal: env.signal,
    describe: (rs) => `${down(rs).join(', ')} down`,
    timeoutError: (_m, last) =>
      new CheckError(
        `${cluster}: no member answers (${down(last as Result[]).join(', ')} down, for ${ELECTION_WAIT_MS / 1000}s): cannot verify the proxies are ${mode}`,
      ),
  });
  const dead = down(results);
  const live = results.filter((r) => r.ok).map((r) => r.h);
  if (dead.length)
    env.log.warn(
      `${cluster}: etcd on ${dead.join(', ')} does not answer: its proxy was switched to ${mode} but could not be verified; verified on ${live.join(', ')}`,
    );
  return live;
}

/**
 * Waits until a member's proxy answers as `mode` several times in a row: right after
 * `nginx -s reload`, old workers may still answer a request or two with the old configuration.
 */
async function waitForMode(
  env: ActionEnv,
  cluster: string,
  host: string,
  mode: ProxyMode,
  timeoutMs = 10_000,
): Promise<void> {
  let streak = 0;
  await waitUntil({
    what: `${host}'s proxy answers ${mode}`,
    probe: () => probeProxyMode(env, cluster, host),
    until: (m) => (streak = m === mode ? streak + 1 : 0) >= 3,
    timeoutMs,
    // Short: the read-only window waits on this.
    intervalMs: 50,
    maxIntervalMs: 50,
    retryOn: (e) =>
      e instanceof EtcdHttpError ||
      e instanceof EtcdUnreachableError ||
      e instanceof EtcdAllEndpointsFailedError,
    signal: env.signal,
    describe: (m) => `${host}'s proxy still answers ${m}, expected ${mode} (after the reload)`,
    timeoutError: (m) => new CheckError(m),
  });
}

async function writeAndReload(
  env: ActionEnv,
  host: string,
  file: string,
  content: string,
  reload: string[],
): Promise<void> {
  await mutateOn(
    env,
    host,
    argvCommand(['sh', '-c', 'cat > "$1.galley.tmp" && mv "$1.galley.tmp" "$1"', 'write', file]),
    { stdin: content },
  );
  await mutateOn(env, host, argvCommand(reload));
}

/** The action that makes a datacenter's proxies read-only or read-write (its members come from the config). */
export function setProxyMode(
  config: GalleyConfig,
  datacenter: string,
  mode: ProxyMode,
  o: { undoGuard?: ReadOnlyParams['undoGuard'] } = {},
) {
  const s = switchConfig(config).readOnlySwitch;
  const cluster = config.etcd.clusters[clusterOfDatacenter(config, datacenter)]!;
  return setProxyModeAction({
    datacenter,
    mode,
    hosts: cluster.members,
    readOnlyContent: s.readOnlyContent,
    readWriteContent: s.readWriteContent,
    ...(o.undoGuard ? { undoGuard: o.undoGuard } : {}),
  });
}

/** The mode of every member's proxy of a datacenter; `down` for a member whose etcd does not answer. */
export async function proxyModes(
  env: ActionEnv,
  datacenter: string,
): Promise<Record<string, ProxyMode | 'down'>> {
  const config = env.config();
  const cluster = clusterOfDatacenter(config, datacenter);
  const entries = await Promise.all(
    config.etcd.clusters[cluster]!.members.map(async (h) => {
      try {
        return [h, await probeProxyMode(env, cluster, h)] as const;
      } catch (e) {
        if (await memberAnswers(env, cluster, h)) throw e;
        return [h, 'down' as const] as const;
      }
    }),
  );
  return Object.fromEntries(entries);
}

/**
 * Fails unless every live member's proxy of the datacenter behaves as `mode` (a read-only
 * check); members whose etcd is down are named, and fail the check only when no member lives.
 */
export async function checkProxyMode(env: ActionEnv, datacenter: string, mode: ProxyMode): Promise<string> {
  const modes = Object.entries(await proxyModes(env, datacenter));
  const wrong = modes.filter(([, m]) => m !== mode && m !== 'down');
  const down = modes.filter(([, m]) => m === 'down').map(([h]) => h);
  if (wrong.length)
    throw new CheckError(
      `${datacenter}: ${wrong.map(([h, m]) => `${h} is ${m}`).join(', ')}; expected ${mode}`,
    );
  if (down.length === modes.length)
    throw new CheckError(`${datacenter}: no member answers (${down.join(', ')} down)`);
  return `${datacenter}: every live proxy is ${mode}${down.length ? ` (etcd down on ${down.join(', ')})` : ''}`;
}

/** Fails unless a majority of the datacenter's members answer (quorum); names the dead ones (read-only). */
export async function checkQuorum(
  env: ActionEnv,
  datacenter: string,
): Promise<{ line: string; down: string[] }> {
  const cluster = clusterOfDatacenter(env.config(), datacenter);
  const members = env.config().etcd.clusters[cluster]!.members;
  const down = await downMembers(env, cluster);
  const up = members.length - down.length;
  if (up <= members.length / 2)
    throw new CheckError(
      `${datacenter}: quorum lost: only ${up} of ${members.length} members answer (${down.join(', ')} down)`,
    );
  return {
    line: `${datacenter}: ${up}/${members.length} members healthy${down.length ? `, ${down.join(', ')} DOWN (quorum holds)` : ''}`,
    down,
  };
}
