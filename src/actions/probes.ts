import type { ActionEnv } from '../core/action.js';
import { observeRRset, type QueryOptions, type RecordType, type RRsetObservation } from '../dns/index.js';

/**
 * Two reads the actions make outside the etcd and SSH clients, as services of the run so that a
 * test can dry-run a cookbook against in-memory answers: record sets on the authoritative DNS
 * servers, and small HTTP pages (an etcdmirror's `/health` and `/lag`). Both are read-only and
 * run in dry-run too.
 */

/** Reads a record set off every authoritative server of its zone (see observeRRset). */
export interface RecordReader {
  observe(name: string, type: RecordType, options?: Partial<QueryOptions>): Promise<RRsetObservation>;
}

/** The run's record reader (the DNS transport, unless the run was given another). */
export function recordsOf(env: ActionEnv): RecordReader {
  return env.service('dns:records', () => ({
    observe: (name: string, type: RecordType, options?: Partial<QueryOptions>) =>
      observeRRset(env.config(), name, type, options),
  }));
}

/** Reads a small HTTP page: its status and body; a server that does not answer throws (fetch's error). */
export interface HttpReader {
  get(url: string, timeoutMs: number): Promise<{ status: number; body: string }>;
}

const fetchReader: HttpReader = {
  async get(url, timeoutMs) {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text() };
  },
};

/** The run's HTTP reader (fetch, unless the run was given another; fetch outside a run). */
export function httpOf(env?: ActionEnv): HttpReader {
  return env ? env.service('http', () => fetchReader) : fetchReader;
}
