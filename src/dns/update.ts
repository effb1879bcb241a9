import {
  DnsConcurrentChangeError,
  DnsProtocolError,
  DnsRcodeError,
  DnsRefusedError,
  DnsTimeoutError,
  DnsTsigError,
  DnsUpdateUnconfirmedError,
} from './errors.js';
import { exchange, newMessageId } from './transport.js';
import { signRequest, splitTsig, verifyResponse, type TsigKey } from './tsig.js';
import type { DnsServer, QueryOptions, RecordType, RecordValue } from './types.js';
import {
  describeRecords,
  encodeName,
  encodeRdata,
  encodeRr,
  headerRcode,
  normalizeName,
  rcodeName,
  typeCode,
} from './wire.js';

const OPCODE_UPDATE = 5;
const CLASS_IN = 1;
const CLASS_NONE = 254;
const CLASS_ANY = 255;

/** What one UPDATE replaces: the whole record set of a name and type, optionally only if it still holds `expected`. */
export interface RRsetReplacement {
  zone: string;
  name: string;
  type: RecordType;
  records: readonly RecordValue[];
  /** The record set as read before; the update is refused if the server's differs (TTLs are not compared, RFC 2136 §2.4.3). */
  expected?: readonly RecordValue[];
}

/**
 * Builds an RFC 2136 UPDATE message that replaces a record set: prerequisites (the set exists
 * with exactly the expected data, §2.4.3, or does not exist, §2.4.5), then "delete the RRset"
 * (§2.5.2) and "add to an RRset" (§2.5.1) for each new record. Unsigned.
 */
export function buildUpdate(change: RRsetReplacement, id: number = newMessageId()): Buffer {
  const type = typeCode(change.type);
  const name = normalizeName(change.name);
  const prerequisites: Buffer[] = [];
  if (change.expected) {
    if (change.expected.length === 0)
      prerequisites.push(encodeRr({ name, type, klass: CLASS_NONE, ttl: 0, rdata: Buffer.alloc(0) }));
    for (const r of change.expected)
      prerequisites.push(
        encodeRr({ name, type, klass: CLASS_IN, ttl: 0, rdata: encodeRdata(change.type, r.data) }),
      );
  }
  const updates = [
    encodeRr({ name, type, klass: CLASS_ANY, ttl: 0, rdata: Buffer.alloc(0) }),
    ...change.records.map((r) =>
      encodeRr({ name, type, klass: CLASS_IN, ttl: r.ttl, rdata: encodeRdata(change.type, r.data) }),
    ),
  ];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(OPCODE_UPDATE << 11, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(prerequisites.length, 6);
  header.writeUInt16BE(updates.length, 8);
  header.writeUInt16BE(0, 10);
  const zoneSection = Buffer.concat([
    encodeName(change.zone),
    Buffer.from([0, typeCode('SOA'), 0, CLASS_IN]),
  ]);
  return Buffer.concat([header, zoneSection, ...prerequisites, ...updates]);
}

/**
 * Sends a signed UPDATE to the primary server and checks its signed answer. Sent over TCP
 * and never retried: a retried update whose first copy was applied would fail its prerequisite.
 * It waits for the whole budget of a query (timeout × (1 + retries)): knot sometimes takes
 * about a second to commit an update on a busy machine.
 *
 * @throws DnsUpdateUnconfirmedError when no answer comes (the update may have been applied)
 * @throws DnsConcurrentChangeError when a prerequisite fails (the record set changed since it was read)
 * @throws DnsTsigError when the server refuses the signature (NOTAUTH, BADSIG, BADKEY, BADTIME)
 * @throws DnsProtocolError when the answer's signature does not verify
 */
export async function sendUpdate(
  server: DnsServer,
  key: TsigKey | undefined,
  change: RRsetReplacement,
  options: QueryOptions,
): Promise<void> {
  const unsigned = buildUpdate(change);
  const signed = key ? signRequest(unsigned, key) : { message: unsigned, mac: Buffer.alloc(0) };
  const zone = normalizeName(change.zone);
  const name = normalizeName(change.name);
  const waitMs = options.timeoutMs * (options.retries + 1);
  let answer: Buffer;
  try {
    answer = await exchange(server, signed.message, zone, { timeoutMs: waitMs, retries: 0, tcp: true });
  } catch (e) {
    if (e instanceof DnsTimeoutError)
      throw new DnsUpdateUnconfirmedError(server, name, change.type, zone, waitMs);
    throw e;
  }
  const rcode = headerRcode(answer);
  if (rcode === 'NOERROR') {
    if (key) {
      const verdict = verifyResponse(answer, key, signed.mac);
      if (!verdict.ok)
        throw new DnsProtocolError(
          server,
          `the update of ${zone} was answered NOERROR but ${verdict.reason}; check the record set before retrying`,
        );
    }
    return;
  }
  if (rcode === 'NXRRSET' || rcode === 'YXRRSET') {
    const wanted = change.expected ? describeRecords(change.type, change.expected) : 'anything';
    throw new DnsConcurrentChangeError(
      name,
      change.type,
      `${server.name} (${server.address}:${server.port})`,
      `${rcode}: expected ${wanted}`,
    );
  }
  if (rcode === 'NOTAUTH') {
    let tsigError = 0;
    try {
      tsigError = splitTsig(answer)?.tsig.error ?? 0;
    } catch {
      // A malformed TSIG record in a refusal: report the refusal itself.
    }
    const detail = !key
      ? 'the update was not signed'
      : tsigError
        ? `TSIG error ${rcodeName(tsigError)}`
        : `key ${key.name} is not allowed to update this zone`;
    throw new DnsTsigError(server, zone, tsigError ? `NOTAUTH/${rcodeName(tsigError)}` : 'NOTAUTH', detail);
  }
  if (rcode === 'REFUSED') throw new DnsRefusedError(server, zone);
  throw new DnsRcodeError(
    server,
    zone,
    rcode,
    `DNS server ${server.name} (${server.address}:${server.port}) answered ${rcode} to the update of ${name} ${change.type} in zone ${zone}`,
  );
}
