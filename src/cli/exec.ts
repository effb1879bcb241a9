/**
 * `cookbook exec`: the CLI of ad-hoc fan-out. Both entries call {@link runAdHoc}: the oclif
 * command (src/commands/exec.ts) and {@link execMain}, which bin/run.js calls to skip oclif's
 * start-up on this hot command. Its flags are declared once, in ./exec-flags.ts.
 */
import { parseArgs } from 'node:util';
import { defaultConfigPaths, loadConfig } from '../config/load.js';
import type { GalleyConfig } from '../config/schema.js';
import { ExitCode, formatError, GalleyError, UsageError } from '../core/errors.js';
import { parseBatchSize, parseSuccessThreshold } from '../ssh/batch.js';
import { operatorCommand } from '../ssh/command.js';
import type { ExecutionProgress } from '../ssh/executor.js';
import { openRemote, type Remote } from '../ssh/remote.js';
import { formatReport, reportToJson } from '../ssh/report.js';
import { parseDurationMs } from '../util/duration.js';
import { EXEC_FLAGS, type ExecFlagValues } from './exec-flags.js';

/** What `cookbook exec` was asked, as raw strings from the command line. */
export interface AdHocRequest {
  hosts: string;
  command: string[];
  configPath?: string;
  batchSize?: string;
  batchSleep?: string;
  successThreshold?: string;
  timeout?: string;
  /** Handshakes in flight at once (`--fanout`); the config's ssh.fanout, else the default. */
  fanout?: string;
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
  openRemote?: (config: GalleyConfig, options: { dryRun: boolean; fanout?: number }) => Remote;
  defaultConfigPath?: () => string | undefined;
}

/** Parses `--fanout`: a whole number of handshakes in flight, from 1. */
export function parseFanout(raw: string): number {
  const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= 10_000))
    throw new UsageError(`invalid fan-out "${raw}": give a whole number of hosts from 1 to 10000 (64)`);
  return n;
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
    const fanout = request.fanout !== undefined ? parseFanout(request.fanout) : undefined;
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
    remote = (io.openRemote ?? openRemote)(config, { dryRun: request.dryRun, ...(fanout ? { fanout } : {}) });
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

/** Builds the request from the hosts, the command and the flag values (either entry's). */
export function requestFromFlags(hosts: string, command: string[], flags: ExecFlagValues): AdHocRequest {
  return {
    hosts,
    command,
    configPath: flags.config,
    batchSize: flags['batch-size'],
    batchSleep: flags['batch-sleep'],
    successThreshold: flags['success-threshold'],
    timeout: flags.timeout,
    fanout: flags.fanout,
    json: flags.json ?? false,
    dryRun: flags['dry-run'] ?? false,
    progress: flags.progress,
  };
}

/** The table of ./exec-flags.ts as node:util parseArgs options. */
const PARSE_OPTIONS = Object.fromEntries(
  Object.entries(EXEC_FLAGS).map(([name, f]) => [
    name,
    { type: f.type, ...('char' in f ? { short: f.char } : {}) },
  ]),
) as Record<string, { type: 'string' | 'boolean'; short?: string }>;

/** Turns `exec` arguments (`HOSTS [flags] -- CMD…`) into a request, as oclif would; throws on unknown flags. */
export function parseExecArgv(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): AdHocRequest {
  const dashdash = argv.indexOf('--');
  const before = dashdash === -1 ? [...argv] : argv.slice(0, dashdash);
  const after = dashdash === -1 ? [] : argv.slice(dashdash + 1);
  const negated = new Set<string>();
  const args = before.filter((a) => {
    const m = /^--no-(.+)$/.exec(a);
    const spec = m ? (EXEC_FLAGS as Record<string, { allowNo?: boolean }>)[m[1]!] : undefined;
    if (m && spec?.allowNo) negated.add(m[1]!);
    return !(m && spec?.allowNo);
  });
  const { values, positionals } = parseArgs({
    args,
    options: PARSE_OPTIONS,
    allowPositionals: true,
    strict: true,
  });
  const flags: Record<string, string | boolean | undefined> = { ...values };
  for (const name of negated) flags[name] = false;
  for (const [name, f] of Object.entries(EXEC_FLAGS)) {
    if (flags[name] === undefined && 'env' in f && env[f.env] !== undefined) flags[name] = env[f.env];
  }
  const [hosts = '', ...commandBefore] = positionals;
  return requestFromFlags(hosts, [...commandBefore, ...after], flags as ExecFlagValues);
}

/** The process's stdio, for either entry. */
export function processIo(): AdHocIo {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    stderrIsTty: process.stderr.isTTY === true,
    defaultConfigPath: () => defaultConfigPaths()[0],
  };
}

/** Runs `exec` from raw arguments (the fast path of bin/run.js); returns the exit code. */
export async function execMain(argv: readonly string[]): Promise<number> {
  let request: AdHocRequest;
  try {
    request = parseExecArgv(argv);
    if (!request.hosts) throw new Error('missing HOSTS: cookbook exec HOSTS -- CMD…');
  } catch (e) {
    process.stderr.write(`cookbook exec: ${(e as Error).message}\n`);
    return ExitCode.USAGE;
  }
  return runAdHoc(request, processIo());
}
