import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { zoneBackendFor, type ZoneBackend } from '../../../src/dns/backend.js';
import { DnsConcurrentChangeError, DnsTsigError } from '../../../src/dns/errors.js';
import { observeRRset, waitForRRset, withTtl, zoneSerials } from '../../../src/dns/records.js';
import type { TsigKey } from '../../../src/dns/tsig.js';
import type { DnsServer, RecordValue } from '../../../src/dns/types.js';
import { exchange } from '../../../src/dns/transport.js';
import { signRequest, verifyResponse } from '../../../src/dns/tsig.js';
import { buildUpdate, sendUpdate } from '../../../src/dns/update.js';
import { headerRcode } from '../../../src/dns/wire.js';
import { referenceRequestMac } from '../../unit/dns/tsig-reference.js';
import { openDnsTestBed, type DnsTestBed } from './testbed.js';

let bed: DnsTestBed;
let backend: ZoneBackend;
let server: DnsServer;
let key: TsigKey;
beforeAll(async () => {
  bed = await openDnsTestBed();
  backend = zoneBackendFor(bed.rfc2136, bed.zone, bed.runner);
  const b = bed.rfc2136.dns!.zones[bed.zone]!.backend;
  if (b.type !== 'rfc2136') throw new Error('the rfc2136 environment must use the rfc2136 backend');
  server = b.server;
  key = {
    name: b.tsig.name,
    algorithm: 'hmac-sha256',
    secret: Buffer.from(b.tsig.secret.reveal(), 'base64'),
  };
  // A lab kept from an interrupted run (GALLEY_REUSE_LAB=1) may still hold the test's record set.
  const leftover = await observeRRset(bed.rfc2136, `_galley-test._tcp.${bed.zone}`, 'SRV');
  if (leftover.records?.length) await backend.replaceRRset(`_galley-test._tcp.${bed.zone}`, 'SRV', []);
}, 30_000);
afterAll(async () => {
  await bed?.close();
});

const soon = () => Date.now() + 10_000;
const options = { timeoutMs: 2000, retries: 0 };
const srv = (target: string, port = 4001) => ({ priority: 0, weight: 1, port, target });

describe('the rfc2136 backend on the real knot server', () => {
  const name = () => `_galley-test._tcp.${bed.zone}`;

  test('a TSIG-signed update is accepted, served with its TTL, and bumps the serial', async () => {
    const [before] = await zoneSerials(bed.rfc2136, bed.zone);
    const records = [
      { ttl: 120, data: srv(`conf1001.eqiad.${bed.zone}`) },
      { ttl: 120, data: srv(`conf1002.eqiad.${bed.zone}`) },
    ];
    await backend.replaceRRset(name(), 'SRV', records, []);
    await waitForRRset(bed.rfc2136, name(), 'SRV', records, soon());
    const [after] = await zoneSerials(bed.rfc2136, bed.zone);
    expect(after!.serial).toBeGreaterThan(before!.serial!);
  });

  test('a TTL change alone is applied and verified', async () => {
    const before = (await observeRRset(bed.rfc2136, name(), 'SRV')).records!;
    const shorter = withTtl(before, 10);
    await backend.replaceRRset(name(), 'SRV', shorter, before);
    await waitForRRset(bed.rfc2136, name(), 'SRV', shorter, soon());
  });

  test('changing an existing SRV record set and restoring what was observed gives back exactly the previous records and TTLs', async () => {
    const observed = await observeRRset(bed.rfc2136, bed.existingSrv, 'SRV');
    const previous: RecordValue[] = observed.records!;
    expect(previous.length).toBeGreaterThan(0);
    const changed = [{ ttl: 5, data: srv(`conf2001.codfw.${bed.zone}`) }];
    await backend.replaceRRset(bed.existingSrv, 'SRV', changed, previous);
    let restored;
    try {
      await waitForRRset(bed.rfc2136, bed.existingSrv, 'SRV', changed, soon());
    } finally {
      // The record belongs to the lab: put it back (as an undo would: only if it still holds our change) even when the check above failed.
      await backend.replaceRRset(bed.existingSrv, 'SRV', previous, changed);
      restored = await waitForRRset(bed.rfc2136, bed.existingSrv, 'SRV', previous, soon());
    }
    expect(restored.servers.map((s) => s.records)).toEqual(observed.servers.map((s) => s.records));
  });

  test('knot accepts a message whose MAC equals the independently computed RFC 8945 vector, and its signed answer verifies', async () => {
    const now = Math.floor(Date.now() / 1000);
    const message = buildUpdate({
      zone: bed.zone,
      name: `_galley-vector._tcp.${bed.zone}`,
      type: 'SRV',
      records: [{ ttl: 30, data: srv(`conf1001.eqiad.${bed.zone}`) }],
    });
    const signed = signRequest(message, key, now);
    expect(signed.mac).toEqual(referenceRequestMac(key.secret, key.name, message, now));
    const answer = await exchange(server, signed.message, bed.zone, { ...options, tcp: true });
    expect(headerRcode(answer)).toBe('NOERROR');
    expect(verifyResponse(answer, key, signed.mac)).toEqual({ ok: true });
    await backend.replaceRRset(`_galley-vector._tcp.${bed.zone}`, 'SRV', []);
  });

  test('an update signed with a forged key (right name, wrong secret) is refused with BADSIG and changes nothing', async () => {
    const before = await observeRRset(bed.rfc2136, name(), 'SRV');
    const forged = { ...key, secret: Buffer.alloc(32, 0x5a) };
    const error = await sendUpdate(
      server,
      forged,
      { zone: bed.zone, name: name(), type: 'SRV', records: [] },
      options,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsTsigError);
    expect((error as DnsTsigError).rcode).toBe('NOTAUTH/BADSIG');
    expect(await observeRRset(bed.rfc2136, name(), 'SRV')).toEqual(before);
  });

  test('an update signed with a key the server does not know is refused with BADKEY', async () => {
    const unknown = { ...key, name: 'no-such-key' };
    await expect(
      sendUpdate(server, unknown, { zone: bed.zone, name: name(), type: 'SRV', records: [] }, options),
    ).rejects.toMatchObject({ rcode: 'NOTAUTH/BADKEY' });
  });

  test('an unsigned update is refused and changes nothing', async () => {
    const before = await observeRRset(bed.rfc2136, name(), 'SRV');
    const error = await sendUpdate(
      server,
      undefined,
      { zone: bed.zone, name: name(), type: 'SRV', records: [] },
      options,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsTsigError);
    expect((error as Error).message).toMatch(
      /refused the update of zone .*: NOTAUTH \(the update was not signed\)/,
    );
    expect(await observeRRset(bed.rfc2136, name(), 'SRV')).toEqual(before);
  });

  test('a concurrent change between reading and writing is detected by the prerequisite and kept', async () => {
    const readByUs = (await observeRRset(bed.rfc2136, name(), 'SRV')).records!;
    const theirs = [{ ttl: 60, data: srv(`conf1003.eqiad.${bed.zone}`) }];
    await backend.replaceRRset(name(), 'SRV', theirs, readByUs); // someone else, in between
    const error = await backend
      .replaceRRset(name(), 'SRV', [{ ttl: 60, data: srv(`conf1004.eqiad.${bed.zone}`) }], readByUs)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsConcurrentChangeError);
    expect((error as Error).message).toMatch(/changed on .* since it was read \(NXRRSET/);
    await waitForRRset(bed.rfc2136, name(), 'SRV', theirs, soon());
  });

  test('deleting the record set removes it', async () => {
    const before = (await observeRRset(bed.rfc2136, name(), 'SRV')).records!;
    await backend.replaceRRset(name(), 'SRV', [], before);
    await waitForRRset(bed.rfc2136, name(), 'SRV', [], soon());
  });
});
