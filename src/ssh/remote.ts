import type { GalleyConfig } from '../config/schema.js';
import { HostSetError } from './errors.js';
import { RemoteExecutor } from './executor.js';
import { resolveHostSet } from './hostset.js';
import { loadIdentity } from './identity.js';
import { KnownHosts } from './known-hosts.js';
import { SshPool, type HostEndpoint } from './pool.js';

/** The SSH side of a run: host sets resolved against the config, and one pool of connections. */
export interface Remote {
  /** Resolves a host set (ClusterShell syntax, `A:alias`) to inventory host names. */
  hosts(expr: string): string[];
  executor: RemoteExecutor;
  pool: SshPool;
  /** The run's known hosts (a reimage learns a host's new key into it from the trusted source). */
  knownHosts?: KnownHosts;
  /** Closes every connection; call once at the end of the run. */
  close(): Promise<void>;
}

/** Where a configured host is reached: its address and ssh_port. */
export function endpointFromConfig(config: Pick<GalleyConfig, 'hosts'>, host: string): HostEndpoint {
  const h = config.hosts[host];
  if (!h) throw new HostSetError(`unknown host "${host}": not in the config's hosts`);
  return { name: host, address: h.address, port: h.sshPort };
}

/**
 * Opens the SSH side of a run: reads the key (or finds the agent) and known_hosts once.
 * Connections open lazily, on each host's first command, through one fan-out window
 * (`options.fanout`, else the config's `ssh.fanout` handshakes in flight, else a window that
 * adapts to the servers' handshake rate): `cookbook exec` and every action of a cookbook run
 * share it. In dry-run, unsafe
 * commands are never sent.
 */
export function openRemote(
  config: GalleyConfig,
  options: { dryRun: boolean; kex?: string[]; fanout?: number; oneShot?: boolean },
): Remote {
  const identity = loadIdentity(config.ssh.keyFile ?? '');
  const knownHosts = KnownHosts.load(config.ssh.knownHosts, config.ssh.hostKeySource);
  const pool = new SshPool({
    username: config.ssh.user,
    identity,
    knownHosts,
    connectTimeoutMs: config.ssh.connectTimeoutMs,
    endpoint: (host) => endpointFromConfig(config, host),
    kex: options.kex,
    fanout: options.fanout ?? config.ssh.fanout,
    oneShot: options.oneShot,
    // GALLEY_SSH_DEBUG=1: every SSH message of every connection on stderr, prefixed by its host.
    protocolDebug: process.env.GALLEY_SSH_DEBUG
      ? (host, line) => process.stderr.write(`ssh ${host}: ${line}\n`)
      : undefined,
  });
  const executor = new RemoteExecutor(pool, {
    dryRun: options.dryRun,
    defaultTimeoutMs: config.ssh.commandTimeoutMs,
  });
  return {
    hosts: (expr) => resolveHostSet(expr, config),
    executor,
    pool,
    knownHosts,
    close: () => pool.close(),
  };
}
