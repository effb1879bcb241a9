import net from 'node:net';
import { describe, expect, test } from '@jest/globals';
import { DnsUpdateUnconfirmedError } from '../../../src/dns/errors.js';
import packet from 'dns-packet';
import { buildUpdate, sendUpdate } from '../../../src/dns/update.js';
import { recordOffsets } from '../../../src/dns/wire.js';

const srv = (target: string) => ({ priority: 0, weight: 1, port: 4001, target });

function sections(message: Buffer) {
  return {
    opcode: (message.readUInt16BE(2) >> 11) & 0xf,
    counts: [4, 6, 8, 10].map((o) => message.readUInt16BE(o)),
    decoded: () => packet.decode(message),
  };
}

describe('building an RFC 2136 UPDATE that replaces a record set', () => {
  test('has opcode 5, the zone as its only question, then delete-RRset and one add per record', () => {
    const m = buildUpdate(
      {
        zone: 'dyn.test.',
        name: '_etcd._tcp.dyn.test',
        type: 'SRV',
        records: [
          { ttl: 60, data: srv('a.dyn.test') },
          { ttl: 60, data: srv('b.dyn.test') },
        ],
      },
      7,
    );
    const { opcode, counts, decoded: decode } = sections(m);
    const decoded = decode();
    expect(opcode).toBe(5);
    expect(counts).toEqual([1, 0, 3, 0]);
    expect(decoded.id).toBe(7);
    expect(decoded.questions).toEqual([{ name: 'dyn.test', type: 'SOA', class: 'IN' }]);
    const [del, add1, add2] = decoded.authorities!;
    expect(del).toMatchObject({ name: '_etcd._tcp.dyn.test', type: 'SRV', class: 'ANY', ttl: 0 });
    const deleteOffset = recordOffsets(m)[0]!;
    const rdlengthOffset = deleteOffset + '_etcd._tcp.dyn.test'.length + 2 + 8;
    expect(m.readUInt16BE(rdlengthOffset)).toBe(0);
    expect(add1).toMatchObject({ type: 'SRV', class: 'IN', ttl: 60, data: srv('a.dyn.test') });
    expect(add2).toMatchObject({ type: 'SRV', class: 'IN', ttl: 60, data: srv('b.dyn.test') });
  });

  test('an expected record set becomes value-dependent "RRset exists" prerequisites with TTL 0', () => {
    const m = buildUpdate({
      zone: 'dyn.test',
      name: 'x.dyn.test',
      type: 'A',
      records: [],
      expected: [
        { ttl: 300, data: '127.0.0.1' },
        { ttl: 300, data: '127.0.0.2' },
      ],
    });
    const { counts, decoded: decode } = sections(m);
    const decoded = decode();
    expect(counts).toEqual([1, 2, 1, 0]);
    expect(decoded.answers).toEqual([
      expect.objectContaining({ name: 'x.dyn.test', type: 'A', class: 'IN', ttl: 0, data: '127.0.0.1' }),
      expect.objectContaining({ name: 'x.dyn.test', type: 'A', class: 'IN', ttl: 0, data: '127.0.0.2' }),
    ]);
  });

  test('an expected empty set becomes the "RRset does not exist" prerequisite (class NONE, no data)', () => {
    const m = buildUpdate({
      zone: 'dyn.test',
      name: 'x.dyn.test',
      type: 'AAAA',
      records: [{ ttl: 30, data: '2001:db8::1' }],
      expected: [],
    });
    const { counts } = sections(m);
    expect(counts).toEqual([1, 1, 2, 0]);
    // header 12 + zone (10 + 4) + prerequisite: name (12) type class ttl rdlength
    const prereq = 12 + 14 + 12;
    expect([
      m.readUInt16BE(prereq),
      m.readUInt16BE(prereq + 2),
      m.readUInt32BE(prereq + 4),
      m.readUInt16BE(prereq + 8),
    ]).toEqual([28, 254, 0, 0]);
  });

  test('names are sent in lower case without compression', () => {
    // A fixed message id: a random one could itself hold the byte 0xc0.
    const m = buildUpdate(
      { zone: 'DYN.test', name: 'X.Dyn.Test.', type: 'A', records: [{ ttl: 1, data: '127.0.0.1' }] },
      0x1234,
    );
    expect(m.includes(Buffer.from('\x01x\x03dyn\x04test\x00', 'latin1'))).toBe(true);
    expect(m.includes(0xc0)).toBe(false);
  });
});

describe('sending an update', () => {
  test('an update that gets no answer is reported as unconfirmed, after the whole query budget, and never re-sent', async () => {
    let connections = 0;
    const sockets: net.Socket[] = [];
    const silent = net.createServer((c) => {
      connections++;
      sockets.push(c);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const error = await sendUpdate(
        { name: 'primary', address: '127.0.0.1', port },
        undefined,
        { zone: 'dyn.test', name: 'x.dyn.test', type: 'A', records: [] },
        { timeoutMs: 40, retries: 2 },
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DnsUpdateUnconfirmedError);
      expect((error as Error).message).toBe(
        `DNS server primary (127.0.0.1:${port}) did not answer the update of x.dyn.test A in zone dyn.test within 120 ms: it may or may not have been applied`,
      );
      expect(connections).toBe(1);
    } finally {
      sockets.forEach((c) => c.destroy());
      silent.close();
    }
  });
});
