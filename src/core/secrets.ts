/** Secrets and the redactor live in `src/base` (shared by the config and the core); re-exported here for the core's modules. */
export * from '../base/secrets.js';
