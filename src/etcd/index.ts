/** The etcd v2 transport: client, stream watch, errors, retries, factory from the config or a URL, and the etcd-backed lock. */
export * from './client.js';
export * from './errors.js';
export * from './factory.js';
export type { EtcdEndpoint, EtcdTransportOptions } from './http.js';
export * from './lock.js';
export * from './spicerack-lock.js';
export { isTransientEtcdError, retryTransient, retryUntilDeadline, TRANSIENT_RETRY_MS } from './retry.js';
export { isHiddenKey, keyPath, normalizeKey } from './url.js';
export * from './watch-stream.js';
