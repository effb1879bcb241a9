/** The DNS transport: direct queries to authoritative servers, and record-set changes through a zone backend. */
export * from './types.js';
export * from './errors.js';
export { query, queryAll, type QueryResult, type ServerOutcome } from './query.js';
export { zoneFor, queryOptions } from './zones.js';
export { zoneBackendFor, zoneBackendForName, backendForZone, type ZoneBackend } from './backend.js';
export { ZonefileBackend } from './zonefile-backend.js';
export { Rfc2136Backend } from './rfc2136-backend.js';
export {
  observeRRset,
  observeOnServers,
  waitForRRset,
  describeObservation,
  zoneSerials,
  withTtl,
  type RRsetObservation,
  type ServerView,
} from './records.js';
export { describeRecords, sameRecords, dataText, normalizeName } from './wire.js';
