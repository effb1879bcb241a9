/** Galley's errors and exit codes live in `src/base` (shared by the config and the core); re-exported here for the core's modules. */
export * from '../base/errors.js';
