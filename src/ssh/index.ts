/**
 * The SSH transport: host sets, quoted commands, a pool of strict-host-key connections,
 * batched execution with a success threshold and a dry-run gate, and service control.
 * Cookbooks and actions get a {@link Remote} from {@link openRemote} (one per run; close it at the end).
 */
export { parseBatchSize, parseSuccessThreshold, type BatchSize } from './batch.js';
export { argvCommand, cmd, safeCmd, shellQuote, type CommandValue, type RemoteCommand } from './command.js';
export { HostKeyChangedError, HostKeyUnknownError, HostSetError, SshError, SshSetupError } from './errors.js';
export {
  isSuccess,
  RemoteExecutor,
  type ExecuteOptions,
  type ExecutionProgress,
  type ExecutionReport,
} from './executor.js';
export { expandHostSet, foldHosts, resolveHostSet } from './hostset.js';
export { openRemote, type Remote } from './remote.js';
export { formatReport, groupResults, reportToJson } from './report.js';
export { ServiceControl, ServiceError, type ActiveState, type ServiceChange } from './services.js';
export type { CommandResult, RemoteRunner } from './types.js';
