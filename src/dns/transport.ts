import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { DnsNetworkError, DnsProtocolError, DnsTimeoutError } from './errors.js';
import type { DnsServer, QueryOptions } from './types.js';

/** A fresh random message ID. */
export function newMessageId(): number {
  return randomInt(0, 0x10000);
}

class AttemptTimeout extends Error {}

function sendUdpOnce(server: DnsServer, message: Buffer, timeoutMs: number): Promise<Buffer> {
  const id = message.readUInt16BE(0);
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(net.isIPv6(server.address) ? 'udp6' : 'udp4');
    let finished = false;
    const done = (fn: () => void) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.close();
      fn();
    };
    const timer = setTimeout(() => done(() => reject(new AttemptTimeout())), timeoutMs);
    // A connected socket only receives from the server, and learns at once (ECONNREFUSED, from
    // the ICMP port-unreachable) that nothing listens there: a stopped server costs no timeout.
    socket.on('error', (e) => done(() => reject(e)));
    socket.on('message', (msg) => {
      if (msg.length < 2 || msg.readUInt16BE(0) !== id) return; // a stale answer to an earlier attempt
      done(() => resolve(msg));
    });
    socket.connect(server.port, server.address, () => {
      socket.send(message, (e) => {
        if (e) done(() => reject(e));
      });
    });
  });
}

function sendTcpOnce(server: DnsServer, message: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: server.address, port: server.port });
    let received = Buffer.alloc(0);
    let finished = false;
    const done = (fn: () => void) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      fn();
    };
    const timer = setTimeout(() => done(() => reject(new AttemptTimeout())), timeoutMs);
    socket.on('error', (e) => done(() => reject(e)));
    socket.on('connect', () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(message.length);
      socket.write(Buffer.concat([length, message]));
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
        const answer = received.subarray(2, 2 + received.readUInt16BE(0));
        done(() => resolve(answer));
      }
    });
    socket.on('end', () => done(() => reject(new Error('connection closed before a full answer'))));
  });
}

/**
 * Sends one DNS message to one server and returns the raw answer: over UDP, again over TCP
 * when the answer is truncated (TC bit) or `tcp` is asked for; each attempt waits up to
 * `timeoutMs`, and a timed-out attempt is retried `retries` times.
 */
export async function exchange(
  server: DnsServer,
  message: Buffer,
  qname: string,
  options: QueryOptions & { tcp?: boolean },
): Promise<Buffer> {
  const attempts = options.retries + 1;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      let answer = options.tcp
        ? await sendTcpOnce(server, message, options.timeoutMs)
        : await sendUdpOnce(server, message, options.timeoutMs);
      if (answer.length < 12)
        throw new DnsProtocolError(server, `answer of ${answer.length} bytes is shorter than a header`);
      const truncated = (answer.readUInt16BE(2) & 0x0200) !== 0;
      if (truncated && !options.tcp) answer = await sendTcpOnce(server, message, options.timeoutMs);
      if (answer.readUInt16BE(0) !== message.readUInt16BE(0))
        throw new DnsProtocolError(server, 'answer ID does not match the query');
      return answer;
    } catch (e) {
      if (e instanceof AttemptTimeout) continue;
      if (e instanceof DnsProtocolError) throw e;
      const refused = (e as NodeJS.ErrnoException).code === 'ECONNREFUSED';
      throw new DnsNetworkError(
        server,
        qname,
        refused ? 'nothing listens on that address and port (connection refused)' : (e as Error).message,
      );
    }
  }
  throw new DnsTimeoutError(server, qname, attempts, options.timeoutMs);
}
