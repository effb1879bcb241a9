import { randomBytes } from 'node:crypto';
import type { GalleyConfig } from '../config/schema.js';
import { defineAction, type ActionEnv } from '../core/action.js';
import { CheckError, ConfigError } from '../core/errors.js';
import {
  EtcdCompareFailedError,
  EtcdKeyNotFoundError,
  EtcdReadOnlyError,
  etcdClientFor,
  type EtcdClient,
} from '../etcd/index.js';
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
}

/** Sets a datacenter's proxies read-only or read-write. */
export const setProxyModeAction = defineAction<ReadOnlyParams, SwitchState>({
  kind: 'proxy.set-mode',
  describe: (p) => `${p.datacenter}: make the etcd proxies ${p.mode}`,
  async observe(p, env) {
    const file = switchConfig(env.config()).readOnlySwitch.file;
    const entries = await Promise.all(
      p.hosts.map(async (h) => [h, (await readRemoteFile(env, h, file)).content ?? null] as const),
    );
    return { files: Object.fromEntries(entries) };
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
        return { subject: `${h} proxy`, from: now, to: p.mode };
      });
  },
  async apply(p, _b, env) {
    const s = switchConfig(env.config()).readOnlySwitch;
    const content = p.mode === 'read-only' ? p.readOnlyContent : p.readWriteContent;
    await Promise.all(p.hosts.map((h) => writeAndReload(env, h, s.file, content, s.reloadCommand)));
  },
  async verify(p, _b, env) {
    const cluster = clusterOfDatacenter(env.config(), p.datacenter);
    await Promise.all(p.hosts.map((h) => waitForMode(env, cluster, h, p.mode)));
    if (p.mode === 'read-write') {
      // The runbook's check: a real write through the proxy succeeds.
      const canary = switchConfig(env.config()).canaryKey;
      for (const h of p.hosts)
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
    await Promise.all(
      p.hosts.map(async (h) => {
        const was = modeOf(env.config(), b.files[h] ?? null);
        if (was === 'unknown') return;
        await waitForMode(env, cluster, h, was);
      }),
    );
  },
});

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
  const deadline = Date.now() + timeoutMs;
  let streak = 0;
  let last: ProxyMode | undefined;
  while (streak < 3) {
    last = await probeProxyMode(env, cluster, host);
    streak = last === mode ? streak + 1 : 0;
    if (streak >= 3) return;
    if (Date.now() > deadline)
      throw new CheckError(
        `${host}'s proxy still answers ${last}, expected ${mode} (waited ${timeoutMs / 1000}s after the reload)`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
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
export function setProxyMode(config: GalleyConfig, datacenter: string, mode: ProxyMode) {
  const s = switchConfig(config).readOnlySwitch;
  const cluster = config.etcd.clusters[clusterOfDatacenter(config, datacenter)]!;
  return setProxyModeAction({
    datacenter,
    mode,
    hosts: cluster.members,
    readOnlyContent: s.readOnlyContent,
    readWriteContent: s.readWriteContent,
  });
}

/** Fails unless every proxy of the datacenter behaves as `mode` (a read-only check). */
export async function checkProxyMode(env: ActionEnv, datacenter: string, mode: ProxyMode): Promise<string> {
  const config = env.config();
  const cluster = clusterOfDatacenter(config, datacenter);
  const modes = await Promise.all(
    config.etcd.clusters[cluster]!.members.map(
      async (h) => [h, await probeProxyMode(env, cluster, h)] as const,
    ),
  );
  const wrong = modes.filter(([, m]) => m !== mode);
  if (wrong.length)
    throw new CheckError(
      `${datacenter}: ${wrong.map(([h, m]) => `${h} is ${m}`).join(', ')}; expected ${mode}`,
    );
  return `${datacenter}: every proxy is ${mode}`;
}
