/** Record types Galley reads and changes. */
export type RecordType = 'A' | 'AAAA' | 'SRV' | 'SOA';

export const RECORD_TYPES: readonly RecordType[] = ['A', 'AAAA', 'SRV', 'SOA'];

export interface SrvData {
  priority: number;
  weight: number;
  port: number;
  /** Target host name, without the trailing dot. */
  target: string;
}

export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

/** The data of one record: an address (A, AAAA), or the fields of an SRV or SOA record. */
export type RecordData = string | SrvData | SoaData;

/** One record as answered by a server. Names are absolute, lower case, without the trailing dot. */
export interface DnsRecord {
  name: string;
  type: RecordType;
  ttl: number;
  data: RecordData;
}

/** One record of a record set to write: the owner name and type are those of the set. */
export interface RecordValue {
  ttl: number;
  data: RecordData;
}

/** A DNS server addressed directly (no recursion): name for messages, address and port to send to. */
export interface DnsServer {
  name: string;
  address: string;
  port: number;
}

/** How long to wait for one answer and how many times to try again after a timeout. */
export interface QueryOptions {
  timeoutMs: number;
  retries: number;
}

/** Writes record sets of one zone, whatever the mechanism (zone file + publish, or RFC 2136 UPDATE). */
export interface ZoneBackend {
  readonly zone: string;
  /** How changes are made, for plans and logs: "zonefile on authdns1001:/etc/gdnsd/zones/example.org". */
  readonly description: string;
  /**
   * Replaces the whole record set of `name`/`type` by `records` (empty: delete it). When
   * `expected` is given, nothing is written if the current set differs from it
   * (DnsConcurrentChangeError). The change is checked before it is published: a change that
   * would break the zone is refused and nothing reaches the servers. Mutating: the action
   * layer calls it only outside dry-run.
   */
  replaceRRset(
    name: string,
    type: RecordType,
    records: readonly RecordValue[],
    expected?: readonly RecordValue[],
  ): Promise<void>;
}
