import { describe, expect, test } from '@jest/globals';
import { ZoneFileError } from '../../../src/dns/errors.js';
import {
  bumpSoaSerial,
  nextSerial,
  parseTtl,
  recordsInZoneFile,
  replaceRRsetInZoneFile,
} from '../../../src/dns/zonefile.js';

const ZONE = [
  '; example.test, written by hand',
  '$TTL 300',
  '$ORIGIN example.test.',
  '@ IN SOA ns1.example.test. hostmaster.example.test. (',
  '      2026010101 ; serial',
  '      3600 600 86400 60 )',
  '@ NS ns1.example.test.',
  'ns1 A 127.31.0.1 ; the first server',
  '_etcd._tcp.eqiad 60 SRV 0 1 4001 conf1001.example.test.',
  '_etcd._tcp.eqiad 60 SRV 0 1 4001 conf1002',
  '                 AAAA 2001:db8::1',
  'conf1001\t1h\tIN\tA\t127.31.1.1',
  '',
].join('\n');

const SRV = '_etcd._tcp.eqiad.example.test';

describe('reading records from a zone file', () => {
  test('finds every record of a name and type with effective TTLs and relative names made absolute', () => {
    expect(recordsInZoneFile(ZONE, 'example.test', SRV, 'SRV')).toEqual([
      { ttl: 60, data: { priority: 0, weight: 1, port: 4001, target: 'conf1001.example.test' } },
      { ttl: 60, data: { priority: 0, weight: 1, port: 4001, target: 'conf1002.example.test' } },
    ]);
  });

  test('applies $TTL to records without a TTL and unit suffixes to those with one', () => {
    expect(recordsInZoneFile(ZONE, 'example.test', 'ns1.example.test', 'A')).toEqual([
      { ttl: 300, data: '127.31.0.1' },
    ]);
    expect(recordsInZoneFile(ZONE, 'example.test', 'conf1001.example.test.', 'A')).toEqual([
      { ttl: 3600, data: '127.31.1.1' },
    ]);
  });

  test('a line without an owner belongs to the previous record', () => {
    expect(recordsInZoneFile(ZONE, 'example.test', SRV, 'AAAA')).toEqual([{ ttl: 300, data: '2001:db8::1' }]);
  });

  test('parses TTLs with units', () => {
    expect(parseTtl('300')).toBe(300);
    expect(parseTtl('1h30m')).toBe(5400);
    expect(parseTtl('1w')).toBe(604800);
    expect(() => parseTtl('soon')).toThrow(ZoneFileError);
  });
});

describe('replacing a record set in a zone file', () => {
  const records = [
    { ttl: 10, data: { priority: 5, weight: 2, port: 4001, target: 'conf2001.example.test' } },
  ];

  test('writes the new records where the old ones were and keeps every other line byte for byte', () => {
    const out = replaceRRsetInZoneFile(ZONE, 'example.test', SRV, 'SRV', records);
    const lines = out.split('\n');
    expect(lines.slice(0, 8)).toEqual(ZONE.split('\n').slice(0, 8));
    expect(lines[8]).toBe('_etcd._tcp.eqiad.example.test. 10 SRV 5 2 4001 conf2001.example.test.');
    expect(lines[9]).toBe('                 AAAA 2001:db8::1');
    expect(lines.slice(10)).toEqual(ZONE.split('\n').slice(11));
    expect(recordsInZoneFile(out, 'example.test', SRV, 'SRV')).toEqual(records);
  });

  test('a record that inherited its owner from a removed line gets its owner written out', () => {
    const out = replaceRRsetInZoneFile(ZONE, 'example.test', SRV, 'SRV', []);
    expect(out).toContain('_etcd._tcp.eqiad.example.test.                 AAAA 2001:db8::1');
    expect(recordsInZoneFile(out, 'example.test', SRV, 'AAAA')).toEqual([{ ttl: 300, data: '2001:db8::1' }]);
    expect(recordsInZoneFile(out, 'example.test', 'ns1.example.test', 'A')).toEqual([
      { ttl: 300, data: '127.31.0.1' },
    ]);
    expect(recordsInZoneFile(out, 'example.test', SRV, 'SRV')).toEqual([]);
  });

  test('a record set that did not exist is appended at the end with an absolute name', () => {
    const out = replaceRRsetInZoneFile(ZONE, 'example.test', 'new.example.test', 'A', [
      { ttl: 30, data: '127.31.9.9' },
    ]);
    expect(out).toBe(`${ZONE}new.example.test. 30 A 127.31.9.9\n`);
  });

  test('restoring the records read before gives back the same records and TTLs', () => {
    const before = recordsInZoneFile(ZONE, 'example.test', SRV, 'SRV');
    const changed = replaceRRsetInZoneFile(ZONE, 'example.test', SRV, 'SRV', records);
    const restored = replaceRRsetInZoneFile(changed, 'example.test', SRV, 'SRV', before);
    expect(recordsInZoneFile(restored, 'example.test', SRV, 'SRV')).toEqual(before);
  });

  test('an unbalanced parenthesis is reported with its line', () => {
    expect(() => replaceRRsetInZoneFile('@ SOA a. b. ( 1 2 3 4 5\n', 'example.test', SRV, 'SRV', [])).toThrow(
      /line 1/,
    );
  });
});

describe('bumping the SOA serial', () => {
  test('a date serial older than today becomes today with 00', () => {
    expect(nextSerial(2026010101, new Date('2026-11-22T03:00:00Z'))).toBe(2026112200);
  });

  test('a date serial of today is incremented', () => {
    expect(nextSerial(2026112205, new Date('2026-11-22T03:00:00Z'))).toBe(2026112206);
  });

  test('a counter serial is incremented and wraps at 2^32', () => {
    expect(nextSerial(7)).toBe(8);
    expect(nextSerial(2 ** 32 - 1)).toBe(0);
  });

  test('only the digits of the serial change, inside a multi-line SOA', () => {
    const { text, oldSerial, newSerial } = bumpSoaSerial(
      ZONE,
      'example.test',
      new Date('2026-11-22T00:00:00Z'),
    );
    expect([oldSerial, newSerial]).toEqual([2026010101, 2026112200]);
    expect(text).toBe(ZONE.replace('2026010101 ; serial', '2026112200 ; serial'));
  });

  test('a zone file without an SOA record is refused', () => {
    expect(() => bumpSoaSerial('ns1 A 127.0.0.1\n', 'example.test')).toThrow(/no SOA record/);
  });
});
