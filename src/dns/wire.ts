import packet from 'dns-packet';
import type { DnsRecord, RecordData, RecordType, SoaData, SrvData } from './types.js';
import { RECORD_TYPES } from './types.js';

/** Lower-cases a domain name and removes its trailing dot ("Foo.Test." → "foo.test"). */
export function normalizeName(name: string): string {
  const n = name.trim().toLowerCase();
  return n.endsWith('.') && n !== '.' ? n.slice(0, -1) : n;
}

/** True when `name` is `zone` or under it. */
export function isInZone(name: string, zone: string): boolean {
  const n = normalizeName(name);
  const z = normalizeName(zone);
  return n === z || n.endsWith(`.${z}`);
}

const TYPE_CODES: Record<string, number> = { A: 1, NS: 2, SOA: 6, AAAA: 28, SRV: 33, TSIG: 250, ANY: 255 };

/** Numeric code of a record type (RFC 1035 / 2782 / 3596 / 8945). */
export function typeCode(type: string): number {
  const code = TYPE_CODES[type];
  if (code === undefined) throw new Error(`unsupported record type ${type}`);
  return code;
}

/** dns-packet's per-type rdata codecs (exported by the package, missing from its type definitions). */
const rdataCodec = (packet as unknown as { record(type: string): { encode(data: unknown): Buffer } }).record;

/** Copies the data of a record with its names normalised, so that records can be compared and displayed. */
export function normalizeData(type: RecordType, data: RecordData): RecordData {
  if (type === 'SRV') {
    const s = data as SrvData;
    return { priority: s.priority, weight: s.weight, port: s.port, target: normalizeName(s.target) };
  }
  if (type === 'SOA') {
    const s = data as SoaData;
    return { ...s, mname: normalizeName(s.mname), rname: normalizeName(s.rname) };
  }
  return String(data);
}

/** Wire form of a record's data (without the length prefix), names lower-cased and uncompressed. */
export function encodeRdata(type: RecordType, data: RecordData): Buffer {
  return rdataCodec(type).encode(normalizeData(type, data)).subarray(2);
}

/** A key equal for two records with the same data (case of names and AAAA spelling do not matter). */
export function dataKey(type: RecordType, data: RecordData): string {
  return encodeRdata(type, data).toString('hex');
}

/** Zone-file text of a record's data, names absolute with their trailing dot: `0 1 4001 conf1001.example.org.`. */
export function dataText(type: RecordType, data: RecordData): string {
  const d = normalizeData(type, data);
  if (type === 'SRV') {
    const s = d as SrvData;
    return `${s.priority} ${s.weight} ${s.port} ${s.target}.`;
  }
  if (type === 'SOA') {
    const s = d as SoaData;
    return `${s.mname}. ${s.rname}. ${s.serial} ${s.refresh} ${s.retry} ${s.expire} ${s.minimum}`;
  }
  return d as string;
}

/** Sorts records by their data so that two sets can be compared. */
export function sortRecords<T extends { data: RecordData }>(type: RecordType, records: readonly T[]): T[] {
  return [...records].sort((a, b) => dataKey(type, a.data).localeCompare(dataKey(type, b.data)));
}

/** True when both lists hold the same data and, if `withTtl`, the same TTLs. */
export function sameRecords(
  type: RecordType,
  a: readonly { ttl: number; data: RecordData }[],
  b: readonly { ttl: number; data: RecordData }[],
  withTtl = true,
): boolean {
  if (a.length !== b.length) return false;
  const sa = sortRecords(type, a);
  const sb = sortRecords(type, b);
  return sa.every(
    (r, i) => dataKey(type, r.data) === dataKey(type, sb[i]!.data) && (!withTtl || r.ttl === sb[i]!.ttl),
  );
}

/** One line per record, for messages: `300 SRV 0 1 4001 conf1001.example.org.`. */
export function describeRecords(
  type: RecordType,
  records: readonly { ttl: number; data: RecordData }[],
): string {
  if (records.length === 0) return '(no records)';
  return sortRecords(type, records)
    .map((r) => `${r.ttl} ${type} ${dataText(type, r.data)}`)
    .join('; ');
}

/** Turns a dns-packet answer into a DnsRecord, or undefined for types Galley does not handle. */
export function fromPacketAnswer(a: packet.Answer): DnsRecord | undefined {
  const type = a.type as RecordType;
  if (!RECORD_TYPES.includes(type)) return undefined;
  const withTtl = a as { ttl?: number; data?: unknown };
  return {
    name: normalizeName(a.name),
    type,
    ttl: withTtl.ttl ?? 0,
    data: normalizeData(type, withTtl.data as RecordData),
  };
}

/** Wire form of an absolute name, uncompressed and lower-cased (the canonical form of RFC 4034 §6.2). */
export function encodeName(name: string): Buffer {
  const n = normalizeName(name);
  const parts: Buffer[] = [];
  if (n !== '' && n !== '.') {
    for (const label of n.split('.')) {
      const b = Buffer.from(label, 'utf8');
      if (b.length === 0 || b.length > 63) throw new Error(`invalid label in domain name "${name}"`);
      parts.push(Buffer.from([b.length]), b);
    }
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** Wire form of one resource record with explicit class (for UPDATE sections, where class ANY/NONE carry meaning). */
export function encodeRr(rr: {
  name: string;
  type: number;
  klass: number;
  ttl: number;
  rdata: Buffer;
}): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(rr.type, 0);
  fixed.writeUInt16BE(rr.klass, 2);
  fixed.writeUInt32BE(rr.ttl, 4);
  fixed.writeUInt16BE(rr.rdata.length, 8);
  return Buffer.concat([encodeName(rr.name), fixed, rr.rdata]);
}

/** Offset just past the (possibly compressed) name starting at `offset`. */
export function skipName(buf: Buffer, offset: number): number {
  let o = offset;
  for (;;) {
    if (o >= buf.length) throw new Error('truncated name');
    const len = buf[o]!;
    if (len === 0) return o + 1;
    if ((len & 0xc0) === 0xc0) return o + 2;
    o += len + 1;
  }
}

/** Offsets of every resource record of a message (after the questions), in order. */
export function recordOffsets(buf: Buffer): number[] {
  if (buf.length < 12) throw new Error('message shorter than its header');
  const qd = buf.readUInt16BE(4);
  const rrCount = buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10);
  let o = 12;
  for (let i = 0; i < qd; i++) o = skipName(buf, o) + 4;
  const offsets: number[] = [];
  for (let i = 0; i < rrCount; i++) {
    offsets.push(o);
    o = skipName(buf, o);
    if (o + 10 > buf.length) throw new Error('truncated record');
    o += 10 + buf.readUInt16BE(o + 8);
  }
  if (o > buf.length) throw new Error('truncated record data');
  return offsets;
}

const RCODES = [
  'NOERROR',
  'FORMERR',
  'SERVFAIL',
  'NXDOMAIN',
  'NOTIMP',
  'REFUSED',
  'YXDOMAIN',
  'YXRRSET',
  'NXRRSET',
  'NOTAUTH',
  'NOTZONE',
];
const TSIG_RCODES: Record<number, string> = { 16: 'BADSIG', 17: 'BADKEY', 18: 'BADTIME', 22: 'BADTRUNC' };

/** Name of a response code (header rcode, or the extended TSIG error codes of RFC 8945). */
export function rcodeName(code: number): string {
  return RCODES[code] ?? TSIG_RCODES[code] ?? `RCODE${code}`;
}

/** The rcode of a raw message's header, by name. */
export function headerRcode(message: Buffer): string {
  return rcodeName(message.readUInt16BE(2) & 0x000f);
}
