import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, test } from '@jest/globals';
import packet from 'dns-packet';
import {
  DnsNetworkError,
  DnsNxDomainError,
  DnsRefusedError,
  DnsServFailError,
  DnsTimeoutError,
  DnsRcodeError,
} from '../../../src/dns/errors.js';
import { buildQuery, parseAnswer, query, queryAll } from '../../../src/dns/query.js';

const server = { name: 'ns1', address: '127.0.0.1', port: 53 };
const SRV = '_etcd._tcp.eqiad.example.test';

function answerTo(
  q: Buffer,
  rcode: number,
  answers: packet.Answer[] = [],
  flags = packet.AUTHORITATIVE_ANSWER,
): Buffer {
  const decoded = packet.decode(q);
  const m = packet.encode({
    type: 'response',
    id: decoded.id,
    flags: flags | rcode,
    questions: decoded.questions,
    answers,
  });
  return m;
}

describe('building queries', () => {
  test('a query asks one question, without recursion', () => {
    const q = packet.decode(buildQuery('_Etcd._tcp.EQIAD.example.test.', 'SRV', 99));
    expect(q.id).toBe(99);
    expect(q.flag_rd).toBe(false);
    expect(q.questions).toEqual([{ name: SRV, type: 'SRV', class: 'IN' }]);
  });
});

describe('parsing answers', () => {
  const q = buildQuery(SRV, 'SRV', 1);

  test('gives the records of the asked name and type with their TTLs, leaving other records out', () => {
    const a = answerTo(q, 0, [
      {
        name: SRV,
        type: 'SRV',
        ttl: 300,
        data: { priority: 0, weight: 1, port: 4001, target: 'Conf1001.example.test' },
      },
      {
        name: 'other.example.test',
        type: 'SRV',
        ttl: 5,
        data: { priority: 0, weight: 1, port: 1, target: 'x' },
      },
      { name: SRV, type: 'TXT', ttl: 5, data: 'hello' },
    ]);
    expect(parseAnswer(server, SRV, 'SRV', a)).toEqual({
      server,
      name: SRV,
      type: 'SRV',
      authoritative: true,
      records: [
        {
          name: SRV,
          type: 'SRV',
          ttl: 300,
          data: { priority: 0, weight: 1, port: 4001, target: 'conf1001.example.test' },
        },
      ],
    });
  });

  test('an empty NOERROR answer gives no records', () => {
    expect(parseAnswer(server, SRV, 'SRV', answerTo(q, 0)).records).toEqual([]);
  });

  test.each([
    [3, DnsNxDomainError, /does not exist according to ns1 \(127\.0\.0\.1:53\)/],
    [5, DnsRefusedError, /ns1 \(127\.0\.0\.1:53\) refused to answer for _etcd/],
    [2, DnsServFailError, /ns1 \(127\.0\.0\.1:53\) failed to answer for _etcd/],
    [4, DnsRcodeError, /answered NOTIMP for _etcd/],
  ])('rcode %i becomes a typed error naming the server and the name', (rcode, type, message) => {
    const run = () => parseAnswer(server, SRV, 'SRV', answerTo(q, rcode));
    expect(run).toThrow(type);
    expect(run).toThrow(message);
  });
});

describe('sending queries', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => cleanups.splice(0).forEach((c) => c()));

  /** A UDP server that answers each query with `reply`, and counts what it receives. */
  async function udpServer(
    reply: (q: Buffer) => Buffer | undefined,
  ): Promise<{ port: number; received: () => number }> {
    const socket = dgram.createSocket('udp4');
    let count = 0;
    socket.on('message', (msg, rinfo) => {
      count++;
      const r = reply(msg);
      if (r) socket.send(r, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    cleanups.push(() => socket.close());
    return { port: socket.address().port, received: () => count };
  }

  test('a truncated UDP answer is asked again over TCP, and the TCP answer is used', async () => {
    const big = {
      name: SRV,
      type: 'SRV' as const,
      ttl: 60,
      data: { priority: 0, weight: 1, port: 4001, target: 'conf1001.example.test' },
    };
    const udp = await udpServer((q) =>
      answerTo(q, 0, [], packet.AUTHORITATIVE_ANSWER | packet.TRUNCATED_RESPONSE),
    );
    const tcp = net.createServer((c) => {
      c.on('data', (d) => {
        const a = answerTo(d.subarray(2), 0, [big]);
        const len = Buffer.alloc(2);
        len.writeUInt16BE(a.length);
        c.end(Buffer.concat([len, a]));
      });
    });
    await new Promise<void>((resolve) => tcp.listen(udp.port, '127.0.0.1', resolve));
    cleanups.push(() => tcp.close());
    const result = await query({ ...server, port: udp.port }, SRV, 'SRV', { timeoutMs: 1000, retries: 0 });
    expect(result.records).toEqual([big]);
  });

  test('a server that never answers is asked 1 + retries times, then a timeout error names it', async () => {
    const silent = await udpServer(() => undefined);
    const target = { name: 'silent', address: '127.0.0.1', port: silent.port };
    const error = await query(target, SRV, 'SRV', { timeoutMs: 50, retries: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsTimeoutError);
    expect((error as Error).message).toBe(
      `DNS server silent (127.0.0.1:${silent.port}) did not answer for ${SRV} (3 attempts, 50 ms each)`,
    );
    expect(silent.received()).toBe(3);
  });

  test('a port where nothing listens is reported at once as unreachable, without waiting for the timeout', async () => {
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
    const port = probe.address().port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const error = await query({ name: 'stopped', address: '127.0.0.1', port }, SRV, 'SRV', {
      timeoutMs: 60_000,
      retries: 5,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsNetworkError);
    expect((error as Error).message).toBe(
      `cannot reach DNS server stopped (127.0.0.1:${port}) for ${SRV}: nothing listens on that address and port (connection refused)`,
    );
  });

  test('queryAll reports each server: one answering, one silent', async () => {
    const good = await udpServer((q) =>
      answerTo(q, 0, [
        { name: SRV, type: 'SRV', ttl: 60, data: { priority: 0, weight: 1, port: 1, target: 'a' } },
      ]),
    );
    const silent = await udpServer(() => undefined);
    const outcomes = await queryAll(
      [
        { ...server, port: good.port },
        { name: 'down', address: '127.0.0.1', port: silent.port },
      ],
      SRV,
      'SRV',
      { timeoutMs: 50, retries: 0 },
    );
    expect(outcomes.map((o) => [o.server.name, o.ok])).toEqual([
      ['ns1', true],
      ['down', false],
    ]);
    expect(outcomes[1]!.ok ? undefined : outcomes[1]!.error).toBeInstanceOf(DnsTimeoutError);
  });
});
