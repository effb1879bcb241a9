import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { zoneBackendFor, type ZoneBackend } from '../../../src/dns/backend.js';
import { DnsConcurrentChangeError, ZonePublishError } from '../../../src/dns/errors.js';
import { observeRRset, waitForRRset, withTtl, zoneSerials } from '../../../src/dns/records.js';
import type { RecordValue } from '../../../src/dns/types.js';
import { openDnsTestBed, type DnsTestBed } from './testbed.js';

let bed: DnsTestBed;
let backend: ZoneBackend;
let zoneFile: string;
beforeAll(async () => {
  bed = await openDnsTestBed();
  backend = zoneBackendFor(bed.zonefile, bed.zone, bed.runner);
  const b = bed.zonefile.dns!.zones[bed.zone]!.backend;
  if (b.type !== 'zonefile') throw new Error('the zonefile environment must use the zonefile backend');
  zoneFile = b.file;
  // A lab kept from an interrupted run (GALLEY_REUSE_LAB=1) may still hold the test's record set.
  const leftover = await observeRRset(bed.zonefile, `_galley-test._tcp.${bed.zone}`, 'SRV');
  if (leftover.records?.length) await backend.replaceRRset(`_galley-test._tcp.${bed.zone}`, 'SRV', []);
}, 30_000);
afterAll(async () => {
  await bed?.close();
});

const soon = () => Date.now() + 10_000;
const srv = (target: string, port = 4001) => ({ priority: 0, weight: 1, port, target });

async function readZoneFile(): Promise<string> {
  const host = bed.zonefile.dns!.zones[bed.zone]!.backend;
  const r = await bed.runner.run(host.type === 'zonefile' ? host.host : '', ['cat', zoneFile], {
    isSafe: true,
  });
  return r.stdout;
}

describe('the zonefile backend on the real gdnsd servers', () => {
  const name = () => `_galley-test._tcp.${bed.zone}`;

  test('a new SRV record set is published and served by every server with its TTL, and the serial is bumped', async () => {
    const serialsBefore = await zoneSerials(bed.zonefile, bed.zone);
    const records = [
      { ttl: 120, data: srv(`conf1001.eqiad.${bed.zone}`) },
      { ttl: 120, data: srv(`conf1002.eqiad.${bed.zone}`) },
    ];
    await backend.replaceRRset(name(), 'SRV', records, []);
    const seen = await waitForRRset(bed.zonefile, name(), 'SRV', records, soon());
    expect(seen.agree).toBe(true);
    const serialsAfter = await zoneSerials(bed.zonefile, bed.zone);
    serialsAfter.forEach((s, i) => expect(s.serial).toBeGreaterThan(serialsBefore[i]!.serial!));
  });

  test('a TTL change alone is published and verified on every server', async () => {
    const before = (await observeRRset(bed.zonefile, name(), 'SRV')).records!;
    const shorter = withTtl(before, 10);
    await backend.replaceRRset(name(), 'SRV', shorter, before);
    await waitForRRset(bed.zonefile, name(), 'SRV', shorter, soon());
  });

  test('changing an existing SRV record set and restoring what was observed gives back exactly the previous records and TTLs', async () => {
    const observed = await observeRRset(bed.zonefile, bed.existingSrv, 'SRV');
    expect(observed.agree).toBe(true);
    const previous: RecordValue[] = observed.records!;
    const changed = [{ ttl: 5, data: srv(`conf2001.codfw.${bed.zone}`) }];
    await backend.replaceRRset(bed.existingSrv, 'SRV', changed, previous);
    let restored;
    try {
      await waitForRRset(bed.zonefile, bed.existingSrv, 'SRV', changed, soon());
    } finally {
      // The record belongs to the lab: put it back (as an undo would: only if it still holds our change) even when the check above failed.
      await backend.replaceRRset(bed.existingSrv, 'SRV', previous, changed);
      restored = await waitForRRset(bed.zonefile, bed.existingSrv, 'SRV', previous, soon());
    }
    expect(restored.servers.map((s) => s.records)).toEqual(observed.servers.map((s) => s.records));
  });

  test('an edit that would break the zone is refused by the publish command, the file is restored and nothing is published', async () => {
    const fileBefore = await readZoneFile();
    const serialsBefore = await zoneSerials(bed.zonefile, bed.zone);
    const recordsBefore = await observeRRset(bed.zonefile, name(), 'SRV');
    const error = await backend
      .replaceRRset(`broken.${bed.zone}`, 'A', [{ ttl: 60, data: '999.1.2.3' }])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ZonePublishError);
    expect((error as Error).message).toMatch(/the previous zone file was restored, nothing was published/);
    expect(await readZoneFile()).toBe(fileBefore);
    expect(await zoneSerials(bed.zonefile, bed.zone)).toEqual(serialsBefore);
    expect(await observeRRset(bed.zonefile, name(), 'SRV')).toEqual(recordsBefore);
  });

  test('a record set that changed since it was read is not overwritten', async () => {
    const fileBefore = await readZoneFile();
    const stale = [{ ttl: 120, data: srv(`conf9999.eqiad.${bed.zone}`) }];
    await expect(backend.replaceRRset(name(), 'SRV', [], stale)).rejects.toThrow(DnsConcurrentChangeError);
    expect(await readZoneFile()).toBe(fileBefore);
  });

  test('deleting the record set removes it from every server', async () => {
    const before = (await observeRRset(bed.zonefile, name(), 'SRV')).records!;
    await backend.replaceRRset(name(), 'SRV', [], before);
    await waitForRRset(bed.zonefile, name(), 'SRV', [], soon());
  });
});
