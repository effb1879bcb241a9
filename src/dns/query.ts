import packet from 'dns-packet';
import {
  DnsError,
  DnsNxDomainError,
  DnsProtocolError,
  DnsRcodeError,
  DnsRefusedError,
  DnsServFailError,
} from './errors.js';
import { exchange, newMessageId } from './transport.js';
import type { DnsRecord, DnsServer, QueryOptions, RecordType } from './types.js';
import { fromPacketAnswer, headerRcode, normalizeName } from './wire.js';

/** What one server answered for a name and type. */
export interface QueryResult {
  server: DnsServer;
  name: string;
  type: RecordType;
  /** Records of the asked name and type (CNAMEs and other types are left out), with their TTLs. */
  records: DnsRecord[];
  /** The server said it is authoritative (AA bit). */
  authoritative: boolean;
}

/** Builds a non-recursive query for one name and type. */
export function buildQuery(name: string, type: RecordType, id: number = newMessageId()): Buffer {
  return packet.encode({
    type: 'query',
    id,
    flags: 0,
    questions: [{ type, name: normalizeName(name), class: 'IN' }],
  });
}

/** Turns the rcode of an answer into the matching typed error (NOERROR: undefined). */
export function rcodeError(server: DnsServer, qname: string, rcode: string): DnsRcodeError | undefined {
  switch (rcode) {
    case 'NOERROR':
      return undefined;
    case 'NXDOMAIN':
      return new DnsNxDomainError(server, qname);
    case 'REFUSED':
      return new DnsRefusedError(server, qname);
    case 'SERVFAIL':
      return new DnsServFailError(server, qname);
    default:
      return new DnsRcodeError(server, qname, rcode);
  }
}

/** Parses an answer to `buildQuery`: the records of that name and type, or the typed error of its rcode. */
export function parseAnswer(server: DnsServer, name: string, type: RecordType, answer: Buffer): QueryResult {
  let decoded: packet.DecodedPacket;
  try {
    decoded = packet.decode(answer);
  } catch (e) {
    throw new DnsProtocolError(server, `cannot decode the answer for ${name}: ${(e as Error).message}`);
  }
  const qname = normalizeName(name);
  const error = rcodeError(server, qname, headerRcode(answer));
  if (error) throw error;
  const records = (decoded.answers ?? [])
    .map(fromPacketAnswer)
    .filter((r): r is DnsRecord => r !== undefined && r.type === type && r.name === qname);
  return {
    server,
    name: qname,
    type,
    records,
    authoritative: ((decoded.flags ?? 0) & packet.AUTHORITATIVE_ANSWER) !== 0,
  };
}

/**
 * Asks one server, without recursion, for the records of a name and type: UDP, then TCP when
 * the answer is truncated. An empty answer (NODATA) gives no records. Read-only: runs in dry-run too.
 *
 * @throws DnsNxDomainError, DnsRefusedError, DnsServFailError, DnsRcodeError, DnsTimeoutError, DnsNetworkError
 */
export async function query(
  server: DnsServer,
  name: string,
  type: RecordType,
  options: QueryOptions,
): Promise<QueryResult> {
  const message = buildQuery(name, type);
  const answer = await exchange(server, message, normalizeName(name), options);
  return parseAnswer(server, name, type, answer);
}

/** The outcome of a query on one server of several: its answer, or the error that stopped it. */
export type ServerOutcome =
  { server: DnsServer; ok: true; result: QueryResult } | { server: DnsServer; ok: false; error: DnsError };

/**
 * Asks every server in parallel and reports each one's outcome, so that one server down is
 * reported rather than fatal. Errors that are not DNS errors (bugs) are still thrown.
 */
export async function queryAll(
  servers: readonly DnsServer[],
  name: string,
  type: RecordType,
  options: QueryOptions,
): Promise<ServerOutcome[]> {
  return Promise.all(
    servers.map(async (server): Promise<ServerOutcome> => {
      try {
        return { server, ok: true, result: await query(server, name, type, options) };
      } catch (e) {
        if (e instanceof DnsError) return { server, ok: false, error: e };
        throw e;
      }
    }),
  );
}
