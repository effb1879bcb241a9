import { readFileSync } from 'node:fs';
import type { GalleyConfig } from '../config/schema.js';
import { ConfigError } from '../core/errors.js';
import { registerSecret, Secret } from '../core/secrets.js';
import { EtcdClient } from './client.js';
import type { EtcdEndpoint } from './http.js';
import { endpointUrl } from './url.js';

/**
 * How to reach a cluster: `proxy` is the advertised client URL (nginx: TLS + basic auth, and
 * the read-only switch); `local` is etcd's own client port, unauthenticated, which only
 * processes on the members use in production (etcdmirror, member changes).
 */
export type EtcdVia = 'proxy' | 'local';

export interface EtcdClientForOptions {
  via: EtcdVia;
  /** Only these members (host names), in this order; default: every member of the cluster. */
  members?: string[];
  /** Overrides etcd.request_timeout. */
  timeoutMs?: number;
  memberChangeDeadlineMs?: number;
}

/** The endpoints of a cluster's members, one per member, in the config's order. */
export function etcdEndpointsFor(
  config: GalleyConfig,
  clusterName: string,
  options: EtcdClientForOptions,
): EtcdEndpoint[] {
  const cluster = config.etcd.clusters[clusterName];
  if (!cluster) {
    throw new ConfigError(`unknown etcd cluster "${clusterName}"`, [
      `known clusters: ${Object.keys(config.etcd.clusters).join(', ') || 'none'} (etcd.clusters in ${config.file})`,
    ]);
  }
  const names = options.members ?? cluster.members;
  return names.map((name) => {
    if (!cluster.members.includes(name)) {
      throw new ConfigError(`${name} is not a member of etcd cluster ${clusterName}`, [
        `members: ${cluster.members.join(', ')}`,
      ]);
    }
    const host = config.hosts[name];
    if (!host)
      throw new ConfigError(
        `etcd member ${name} of cluster ${clusterName} is not listed under hosts in ${config.file}`,
      );
    return options.via === 'proxy'
      ? { url: endpointUrl('https', host.address, cluster.proxyPort), hostName: host.name }
      : { url: endpointUrl(cluster.clientScheme, host.address, cluster.clientPort), hostName: host.name };
  });
}

function readCa(config: GalleyConfig): Buffer | undefined {
  const file = config.etcd.caFile;
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ConfigError(
      `cannot read etcd.ca_file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      ['point etcd.ca_file at the PEM file of the CA that signed the proxy certificates'],
    );
  }
}

/**
 * A client for one cluster of the config. `proxy`: https to each member's proxy port, the
 * member's host name as TLS server name, the configured CA and credentials. `local`: the
 * member's client port and scheme, without credentials.
 */
export function etcdClientFor(
  config: GalleyConfig,
  clusterName: string,
  options: EtcdClientForOptions,
): EtcdClient {
  const endpoints = etcdEndpointsFor(config, clusterName, options);
  const needsCa = endpoints.some((e) => e.url.startsWith('https:'));
  return new EtcdClient({
    endpoints,
    ca: needsCa ? readCa(config) : undefined,
    caFile: config.etcd.caFile,
    credentials: options.via === 'proxy' ? config.etcd.credentials : undefined,
    timeoutMs: options.timeoutMs ?? config.etcd.requestTimeoutMs,
    memberChangeDeadlineMs: options.memberChangeDeadlineMs,
  });
}

/** A password already at hand (from a URL's `user:password@`, or read from a file): registered with the redactor at once. */
class InlineSecret extends Secret {
  readonly #value: string;

  constructor(value: string) {
    super({ env: 'GALLEY_INLINE_PASSWORD' });
    registerSecret(value);
    this.#value = value;
  }

  override get origin(): string {
    return 'the command line';
  }

  override reveal(): string {
    return this.#value;
  }
}

export interface EtcdClientForUrlOptions {
  /** The password of the URL's user when the URL has none (read from a file: kept out of ps and logs). */
  password?: string;
  /** PEM of the CA for an https URL, and where it came from. */
  ca?: Buffer;
  caFile?: string;
  /** Per-request timeout (for streams and long-polls it covers the response headers only). */
  timeoutMs: number;
  /** Keep-alive connections at most. */
  maxSockets?: number;
}

/**
 * A client for the members given as URLs (etcdmirror's SRC_URL and DST_URL: one URL, or several
 * members of one cluster separated by commas). A URL may carry `user:password@`, or `user@` with
 * the password in a file; every member is then reached as that one user. The credentials are
 * taken out of the URLs, so that they can be printed, and the password is registered with the
 * redactor. Requests go to the first member and fail over to the next one that answers when a
 * member cannot be reached (refused, reset, timed out), as for every EtcdClient.
 */
export function etcdClientForUrl(rawUrls: string, options: EtcdClientForUrlOptions): EtcdClient {
  const urls = rawUrls.split(',').map((raw) => {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw new ConfigError(`not a URL: ${raw}`, [
        'give etcd members as http(s)://host:port, comma-separated',
      ]);
    }
    const username = decodeURIComponent(u.username);
    const inline = u.password ? decodeURIComponent(u.password) : undefined;
    u.username = '';
    u.password = '';
    return { origin: u.origin, username, inline };
  });
  const users = [...new Set(urls.map((u) => u.username).filter((n) => n !== ''))];
  if (users.length > 1)
    throw new ConfigError(`the members ${urls.map((u) => u.origin).join(', ')} name different users`, [
      'give every member of one cluster with the same user (or the user on the first URL only)',
    ]);
  let credentials: { username: string; password: Secret } | undefined;
  const username = users[0];
  if (username) {
    const password = urls.find((u) => u.inline !== undefined)?.inline ?? options.password;
    if (password === undefined)
      throw new ConfigError(`${urls[0]!.origin}: a user is given but no password`, [
        'give the password in a file with --password-file',
      ]);
    credentials = { username, password: new InlineSecret(password) };
  }
  return new EtcdClient({
    endpoints: urls.map((u) => ({ url: u.origin })),
    ca: options.ca,
    caFile: options.caFile,
    credentials,
    timeoutMs: options.timeoutMs,
    maxSockets: options.maxSockets,
  });
}

/** Anything that shares clients for a run (the Runner's ActionEnv has this shape). */
export interface ServiceRegistry {
  service<T>(key: string, create: () => T, close?: (t: T) => Promise<void> | void): T;
}

/** The run's shared client for a cluster (one per cluster and route, closed at the end of the run). */
export function sharedEtcdClient(
  env: ServiceRegistry & { config(): GalleyConfig },
  clusterName: string,
  via: EtcdVia,
): EtcdClient {
  return env.service(
    `etcd:${clusterName}:${via}`,
    () => etcdClientFor(env.config(), clusterName, { via }),
    (c) => c.close(),
  );
}

/** The cluster that holds locks: the replication master if configured, else the first cluster. */
export function lockClusterOf(config: GalleyConfig): string {
  const master = config.replication?.master;
  const byDc = master ? Object.values(config.etcd.clusters).find((c) => c.datacenter === master) : undefined;
  const name = byDc?.name ?? Object.keys(config.etcd.clusters)[0];
  if (!name)
    throw new ConfigError(`no etcd cluster configured in ${config.file}: locks need one`, [
      'add etcd.clusters, or run with --no-locks',
    ]);
  return name;
}
