import type { DnsConfig, GalleyConfig, ZoneConfig } from '../config/schema.js';
import { ConfigError } from '../core/errors.js';
import { DnsZoneNotConfiguredError } from './errors.js';
import type { QueryOptions } from './types.js';
import { isInZone, normalizeName } from './wire.js';

/** The DNS section of the config, or a ConfigError saying it is missing. */
export function dnsConfig(config: GalleyConfig): DnsConfig {
  if (!config.dns)
    throw new ConfigError(`${config.file} has no "dns" section`, [
      'add dns.zones with the servers and backend of each zone',
    ]);
  return config.dns;
}

/** Timeout and retries of queries, from the config. */
export function queryOptions(config: GalleyConfig): QueryOptions {
  const dns = dnsConfig(config);
  return { timeoutMs: dns.timeoutMs, retries: dns.retries };
}

/** The configured zone that contains `fqdn`: the longest match, so `eqiad.example.org` wins over `example.org`. */
export function zoneFor(config: GalleyConfig, fqdn: string): ZoneConfig {
  const zones = Object.values(dnsConfig(config).zones);
  const name = normalizeName(fqdn);
  const matching = zones
    .filter((z) => isInZone(name, z.name))
    .sort((a, b) => normalizeName(b.name).length - normalizeName(a.name).length);
  const zone = matching[0];
  if (!zone)
    throw new DnsZoneNotConfiguredError(
      name,
      zones.map((z) => z.name),
    );
  return zone;
}
