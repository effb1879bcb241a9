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
