import { describe, expect, test } from '@jest/globals';
import { withTtl } from '../../../src/dns/records.js';
import { describeRecords, sameRecords } from '../../../src/dns/wire.js';

const srv = (target: string) => ({ priority: 0, weight: 1, port: 4001, target });

describe('comparing record sets', () => {
  test('order, case of names and the spelling of IPv6 addresses do not matter; TTLs do', () => {
    const a = [
      { ttl: 60, data: srv('A.example.test.') },
      { ttl: 60, data: srv('b.example.test') },
    ];
    const b = [
      { ttl: 60, data: srv('b.example.test') },
      { ttl: 60, data: srv('a.example.test') },
    ];
    expect(sameRecords('SRV', a, b)).toBe(true);
    expect(sameRecords('SRV', a, withTtl(b, 10))).toBe(false);
    expect(sameRecords('SRV', a, withTtl(b, 10), false)).toBe(true);
    expect(
      sameRecords('AAAA', [{ ttl: 1, data: '2001:db8:0:0::1' }], [{ ttl: 1, data: '2001:DB8::1' }]),
    ).toBe(true);
  });

  test('describes records sorted, one clause each, with TTL and zone-file data', () => {
    expect(
      describeRecords('SRV', [
        { ttl: 5, data: srv('b.test') },
        { ttl: 5, data: srv('a.test') },
      ]),
    ).toBe('5 SRV 0 1 4001 a.test.; 5 SRV 0 1 4001 b.test.');
    expect(describeRecords('A', [])).toBe('(no records)');
  });
});

describe('setting the TTL of a record set', () => {
  test('keeps the data and replaces every TTL', () => {
    expect(
      withTtl(
        [
          { ttl: 300, data: '127.0.0.1' },
          { ttl: 60, data: '127.0.0.2' },
        ],
        10,
      ),
    ).toEqual([
      { ttl: 10, data: '127.0.0.1' },
      { ttl: 10, data: '127.0.0.2' },
    ]);
  });

  test('refuses a TTL that is not a whole number of seconds in range', () => {
    expect(() => withTtl([], -1)).toThrow(RangeError);
    expect(() => withTtl([], 1.5)).toThrow(
      'a TTL must be a whole number of seconds from 0 to 2147483647, not 1.5',
    );
  });
});
