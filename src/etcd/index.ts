/** The etcd v2 transport: client, errors, factory from the config, and the etcd-backed lock. */
export * from './client.js';
export * from './errors.js';
export * from './factory.js';
export type { EtcdEndpoint, EtcdTransportOptions } from './http.js';
export * from './lock.js';
export * from './spicerack-lock.js';
