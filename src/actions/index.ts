/**
 * Every action kind Galley ships, registered by importing this module once. Journals name
 * actions by kind, so `cookbook rollback RUN` imports this (not the cookbook that ran), and
 * a run of a cookbook that was renamed or removed can still be rolled back.
 */
export * as dns from './dns.js';
export * as etcd from './etcd.js';
export * as files from './files.js';
export * as membership from './membership.js';
export * as proxy from './proxy.js';
export * as remote from './remote.js';
export * as replication from './replication.js';
