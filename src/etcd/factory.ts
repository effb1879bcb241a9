import { readFileSync } from 'node:fs';
import type { GalleyConfig } from '../config/schema.js';
import { ConfigError } from '../core/errors.js';
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
