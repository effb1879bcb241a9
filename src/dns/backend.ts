import type { GalleyConfig, ZoneConfig } from '../config/schema.js';
import type { RemoteRunner } from '../ssh/types.js';
import { Rfc2136Backend } from './rfc2136-backend.js';
import type { ZoneBackend } from './types.js';
import { ZonefileBackend } from './zonefile-backend.js';
import { queryOptions, zoneFor, dnsConfig } from './zones.js';
import { ConfigError } from '../core/errors.js';

export type { ZoneBackend } from './types.js';

/** Builds the backend configured for one zone (`remoteRunner` is used by zone-file backends only). */
export function backendForZone(
  config: GalleyConfig,
  zone: ZoneConfig,
  remoteRunner: RemoteRunner,
): ZoneBackend {
  const backend = zone.backend;
  if (backend.type === 'rfc2136') {
    return new Rfc2136Backend({
      zone: zone.name,
      server: backend.server,
      key: { name: backend.tsig.name, algorithm: backend.tsig.algorithm, secret: backend.tsig.secret },
      options: queryOptions(config),
    });
  }
  return new ZonefileBackend({
    zone: zone.name,
    host: backend.host,
    file: backend.file,
    checkCommand: backend.checkCommand,
    publishCommand: backend.publishCommand,
    runner: remoteRunner,
  });
}

/** The backend of the zone called `zoneName` in config.dns.zones (a zone name or its key). */
export function zoneBackendFor(
  config: GalleyConfig,
  zoneName: string,
  remoteRunner: RemoteRunner,
): ZoneBackend {
  const zones = dnsConfig(config).zones;
  const zone = zones[zoneName] ?? Object.values(zones).find((z) => z.name === zoneName);
  if (!zone)
    throw new ConfigError(`no zone "${zoneName}" under dns.zones in ${config.file}`, [
      `known zones: ${Object.keys(zones).join(', ')}`,
    ]);
  return backendForZone(config, zone, remoteRunner);
}

/** The backend of the zone that contains `fqdn` (longest match). */
export function zoneBackendForName(
  config: GalleyConfig,
  fqdn: string,
  remoteRunner: RemoteRunner,
): ZoneBackend {
  return backendForZone(config, zoneFor(config, fqdn), remoteRunner);
}
