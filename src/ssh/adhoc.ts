import { loadConfig } from '../config/load.js';
import type { GalleyConfig } from '../config/schema.js';
import { ExitCode, formatError, GalleyError, UsageError } from '../core/errors.js';
import { parseDurationMs } from '../util/duration.js';
import { parseBatchSize, parseSuccessThreshold } from './batch.js';
import { operatorCommand } from './command.js';
import type { ExecutionProgress } from './executor.js';
import { openRemote, type Remote } from './remote.js';
import { formatReport, reportToJson } from './report.js';

/** What `cookbook exec` was asked, as raw strings from the command line. */
export interface AdHocRequest {
  hosts: string;
  command: string[];
  configPath?: string;
  batchSize?: string;
  batchSleep?: string;
  successThreshold?: string;
  timeout?: string;
  json: boolean;
  dryRun: boolean;
  /** Show progress on stderr: true/false forced, undefined = only when stderr is a terminal. */
  progress?: boolean;
}

export interface AdHocIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stderrIsTty: boolean;
  loadConfig?: (path: string) => GalleyConfig;
  openRemote?: (config: GalleyConfig, options: { dryRun: boolean }) => Remote;
  defaultConfigPath?: () => string | undefined;
}

function parseDuration(raw: string, flag: string): number {
  try {
    return parseDurationMs(raw);
  } catch (e) {
    throw new UsageError(`${flag}: ${(e as Error).message}`);
  }
}

/** Renders progress as `12/50 hosts done`: in place on a terminal, about once a second otherwise. */
function progressPrinter(io: AdHocIo): { onProgress: (p: ExecutionProgress) => void; finish: () => void } {
  let lastLine = 0;
  let pending: ExecutionProgress | undefined;
  return {
    onProgress: (p) => {
      const line = `${p.done}/${p.total} hosts done`;
      pending = undefined;
      if (io.stderrIsTty) {
        io.stderr(`\r${line}${p.done === p.total ? '\n' : ''}`);
      } else if (p.done === p.total || Date.now() - lastLine >= 1000) {
        lastLine = Date.now();
        io.stderr(`${line}\n`);
      } else pending = p;
    },
    // A run stopped by the threshold never reaches total: end with where it stopped.
    finish: () => {
      if (pending) io.stderr(`${pending.done}/${pending.total} hosts done\n`);
    },
  };
}

/**
 * `cookbook exec HOSTS -- CMD…`: runs an ad-hoc command on a host set and prints a summary
 * grouped by identical output (or JSON). Returns the exit code: 0 when the success
 * threshold is met, 1 when not, 2 for bad input (one line on stderr, nothing run).
 */
export async function runAdHoc(request: AdHocRequest, io: AdHocIo): Promise<number> {
  let remote: Remote | undefined;
  try {
    const batchSize = request.batchSize !== undefined ? parseBatchSize(request.batchSize) : undefined;
    const batchSleepMs =
      request.batchSleep !== undefined ? parseDuration(request.batchSleep, '--batch-sleep') : undefined;
    const successThreshold =
      request.successThreshold !== undefined ? parseSuccessThreshold(request.successThreshold) : undefined;
    const timeoutMs = request.timeout !== undefined ? parseDuration(request.timeout, '--timeout') : undefined;
    if (timeoutMs === 0) throw new UsageError('--timeout must be more than 0');
    const command = (() => {
      try {
        return operatorCommand(request.command);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    })();
    const configPath = request.configPath ?? io.defaultConfigPath?.();
    if (!configPath) throw new UsageError('no config: pass --config FILE or set GALLEY_CONFIG');
    const config = (io.loadConfig ?? loadConfig)(configPath);
    remote = (io.openRemote ?? openRemote)(config, { dryRun: request.dryRun });
    const hosts = remote.hosts(request.hosts);
    const progress = (request.progress ?? io.stderrIsTty) ? progressPrinter(io) : undefined;
    const report = await remote.executor.execute(hosts, command, {
      batchSize,
      batchSleepMs,
      successThreshold,
      timeoutMs,
      onProgress: progress?.onProgress,
    });
    progress?.finish();
    io.stdout(request.json ? `${JSON.stringify(reportToJson(report), null, 2)}\n` : formatReport(report));
    return report.thresholdMet ? ExitCode.OK : ExitCode.FAILED;
  } catch (e) {
    const message = formatError(e).replace(/\n\s*/g, ' ');
    io.stderr(`cookbook exec: ${message}\n`);
    return e instanceof GalleyError ? e.exitCode : ExitCode.UNEXPECTED;
  } finally {
    await remote?.close();
  }
}
