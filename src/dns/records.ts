import { setTimeout as sleep } from 'node:timers/promises';
import type { GalleyConfig } from '../config/schema.js';
import { CheckError } from '../core/errors.js';
import { DnsNxDomainError } from './errors.js';
import { query, queryAll, type ServerOutcome } from './query.js';
import type { DnsServer, QueryOptions, RecordType, RecordValue } from './types.js';
import { describeRecords, normalizeName, sameRecords } from './wire.js';
import { queryOptions, zoneFor } from './zones.js';

/** A record set as one authoritative server serves it (NXDOMAIN counts as an empty set). */
export interface ServerView {
  server: DnsServer;
  records?: RecordValue[];
  /** Why this server could not be read (timeout, REFUSED…): message of the typed error. */
  error?: string;
}

/** A record set as seen on every authoritative server of its zone. */
export interface RRsetObservation {
  name: string;
  type: RecordType;
  zone: string;
  servers: ServerView[];
  /** The records (with TTLs) of the first server that answered; undefined if none did. */
  records?: RecordValue[];
  /** Every server answered, with the same records and TTLs. */
  agree: boolean;
}

function viewOf(outcome: ServerOutcome): ServerView {
  if (outcome.ok)
    return {
      server: outcome.server,
      records: outcome.result.records.map((r) => ({ ttl: r.ttl, data: r.data })),
    };
  if (outcome.error instanceof DnsNxDomainError) return { server: outcome.server, records: [] };
  return { server: outcome.server, error: outcome.error.message };
}

/** Asks every server in parallel and compares their answers. */
export async function observeOnServers(
  servers: readonly DnsServer[],
  zone: string,
  name: string,
  type: RecordType,
  options: QueryOptions,
): Promise<RRsetObservation> {
  const views = (await queryAll(servers, name, type, options)).map(viewOf);
  const answered = views.filter((v) => v.records !== undefined);
  const records = answered[0]?.records;
  const agree =
    answered.length === views.length && answered.every((v) => sameRecords(type, v.records!, records!));
  return { name: normalizeName(name), type, zone: normalizeName(zone), servers: views, records, agree };
}

/**
 * The records and TTLs of a record set on every authoritative server of its zone (from the
 * config), and whether they all agree. A server that does not answer is reported in
 * `servers`, not thrown; `options` overrides the config's timeout and retries (a status
 * report that must answer quickly even with a server down). Read-only: runs in dry-run too.
 */
export async function observeRRset(
  config: GalleyConfig,
  name: string,
  type: RecordType,
  options?: Partial<QueryOptions>,
): Promise<RRsetObservation> {
  const zone = zoneFor(config, name);
  return observeOnServers(zone.servers, zone.name, name, type, { ...queryOptions(config), ...options });
}

/** One line per server for messages: `ns1 (127.0.3.1:53): 300 SRV 0 1 4001 conf1001.` */
export function describeObservation(o: RRsetObservation): string {
  return o.servers
    .map(
      (v) =>
        `${v.server.name} (${v.server.address}:${v.server.port}): ${v.records ? describeRecords(o.type, v.records) : v.error}`,
    )
    .join('\n');
}

/**
 * Waits until EVERY authoritative server of the zone serves exactly `expected` (data and
 * TTLs), polling every `intervalMs` until `deadlineMs` (an absolute time, Date.now() based).
 *
 * @throws CheckError naming each server that still differs and what it serves
 */
export async function waitForRRset(
  config: GalleyConfig,
  name: string,
  type: RecordType,
  expected: readonly RecordValue[],
  deadlineMs: number,
  intervalMs = 100,
): Promise<RRsetObservation> {
  const zone = zoneFor(config, name);
  const options = queryOptions(config);
  for (;;) {
    const o = await observeOnServers(zone.servers, zone.name, name, type, options);
    const matches = (v: ServerView) => v.records !== undefined && sameRecords(type, v.records, expected);
    if (o.servers.every(matches)) return o;
    if (Date.now() + intervalMs > deadlineMs) {
      const wrong = { ...o, servers: o.servers.filter((v) => !matches(v)) };
      throw new CheckError(
        `${normalizeName(name)} ${type} is not ${describeRecords(type, expected)} on every authoritative server:\n${describeObservation(wrong)}`,
        {
          suggestions: [
            'check that the change was published (authdns-update, or the primary server) and that every server reloaded',
          ],
        },
      );
    }
    await sleep(intervalMs);
  }
}

/** The SOA serial each server of the zone serves (undefined for a server that did not answer). Read-only. */
export async function zoneSerials(
  config: GalleyConfig,
  zoneName: string,
): Promise<{ server: DnsServer; serial?: number; error?: string }[]> {
  const zone = zoneFor(config, zoneName);
  const options = queryOptions(config);
  return Promise.all(
    zone.servers.map(async (server) => {
      try {
        const r = await query(server, zone.name, 'SOA', options);
        const soa = r.records[0]?.data;
        return { server, serial: typeof soa === 'object' && 'serial' in soa ? soa.serial : undefined };
      } catch (e) {
        return { server, error: (e as Error).message };
      }
    }),
  );
}

/** The same records with every TTL set to `ttlSeconds` (for "set the TTL of a record set"). */
export function withTtl(records: readonly RecordValue[], ttlSeconds: number): RecordValue[] {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 0 || ttlSeconds > 2 ** 31 - 1) {
    throw new RangeError(`a TTL must be a whole number of seconds from 0 to 2147483647, not ${ttlSeconds}`);
  }
  return records.map((r) => ({ ttl: ttlSeconds, data: r.data }));
}
