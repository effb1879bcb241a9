import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { DnsNetworkError, DnsNxDomainError, DnsRefusedError } from '../../../src/dns/errors.js';
import { query, queryAll } from '../../../src/dns/query.js';
import { observeRRset } from '../../../src/dns/records.js';
import type { SoaData, SrvData } from '../../../src/dns/types.js';
import { openDnsTestBed, type DnsTestBed } from './testbed.js';

let bed: DnsTestBed;
beforeAll(async () => {
  bed = await openDnsTestBed();
}, 30_000);
afterAll(async () => {
  await bed?.close();
});

const options = { timeoutMs: 1000, retries: 1 };

describe('queries straight to the authoritative servers', () => {
  test('every gdnsd server answers the SOA of the zone authoritatively, with its TTL and serial', async () => {
    const servers = bed.zonefile.dns!.zones[bed.zone]!.servers;
    expect(servers.length).toBeGreaterThanOrEqual(2);
    const outcomes = await queryAll(servers, bed.zone, 'SOA', options);
    for (const o of outcomes) {
      if (!o.ok) throw o.error;
      expect(o.result.authoritative).toBe(true);
      expect(o.result.records).toHaveLength(1);
      expect(o.result.records[0]!.ttl).toBeGreaterThan(0);
      expect((o.result.records[0]!.data as SoaData).serial).toBeGreaterThan(0);
    }
  });

  test('knot answers the SOA of the zone with its TTL', async () => {
    const [server] = bed.rfc2136.dns!.zones[bed.zone]!.servers;
    const r = await query(server!, bed.zone, 'SOA', options);
    expect(r.records[0]).toMatchObject({ name: bed.zone, type: 'SOA', ttl: expect.any(Number) });
  });

  test('an SRV record set is answered with the same targets and TTLs by every server', async () => {
    const o = await observeRRset(bed.zonefile, bed.existingSrv, 'SRV');
    expect(o.agree).toBe(true);
    expect(o.servers.every((s) => s.records !== undefined && s.records.length > 0)).toBe(true);
    expect(o.records!.every((r) => r.ttl > 0 && (r.data as SrvData).port > 0)).toBe(true);
  });

  test('the A record of each SRV target is answered with its TTL', async () => {
    const o = await observeRRset(bed.zonefile, bed.existingSrv, 'SRV');
    const target = (o.records![0]!.data as SrvData).target;
    const a = await observeRRset(bed.zonefile, target, 'A');
    expect(a.agree).toBe(true);
    expect(a.records![0]!.data).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(a.records![0]!.ttl).toBeGreaterThan(0);
  });

  test('a name that does not exist is an NXDOMAIN error naming the server and the name', async () => {
    const server = bed.zonefile.dns!.zones[bed.zone]!.servers[0]!;
    const name = `nope-${process.pid}.${bed.zone}`;
    const error = await query(server, name, 'A', options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsNxDomainError);
    expect((error as Error).message).toBe(
      `${name} does not exist according to ${server.name} (${server.address}:53) (NXDOMAIN)`,
    );
  });

  test('a name outside the zones of the server is a REFUSED error', async () => {
    const server = bed.zonefile.dns!.zones[bed.zone]!.servers[0]!;
    await expect(query(server, 'example.com', 'A', options)).rejects.toThrow(DnsRefusedError);
  });

  test('with one server down, the others still answer and the down one is reported as unreachable', async () => {
    const servers = [...bed.zonefile.dns!.zones[bed.zone]!.servers, bed.deadServer];
    const outcomes = await queryAll(servers, bed.existingSrv, 'SRV', { timeoutMs: 300, retries: 1 });
    expect(outcomes.map((o) => o.ok)).toEqual([...servers.slice(0, -1).map(() => true), false]);
    const down = outcomes[outcomes.length - 1]!;
    expect(down.ok ? undefined : down.error).toBeInstanceOf(DnsNetworkError);
    expect(down.ok ? '' : down.error.message).toBe(
      `cannot reach DNS server dead (${bed.deadServer.address}:53) for ${bed.existingSrv}: nothing listens on that address and port (connection refused)`,
    );
  });
});
