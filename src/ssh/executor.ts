import { setTimeout as delay } from 'node:timers/promises';
import { argvCommand, type RemoteCommand } from './command.js';
import { canStillMeetThreshold, requiredSuccesses, splitBatches, type BatchSize } from './batch.js';
import type { CommandTransport } from './pool.js';
import type { CommandResult, RemoteRunner } from './types.js';

/** Reported after each host finishes. */
export interface ExecutionProgress {
  done: number;
  total: number;
  result: CommandResult;
}

export interface ExecuteOptions {
  /** Hosts run at once; all of them by default. */
  batchSize?: BatchSize;
  /** Pause between two batches. */
  batchSleepMs?: number;
  /** Fraction of hosts (0–1) that must succeed; 1 by default. Batches stop once it can no longer be met. */
  successThreshold?: number;
  /** Per-command timeout; the configured command timeout by default. */
  timeoutMs?: number;
  stdin?: string;
  onProgress?: (progress: ExecutionProgress) => void;
}

/** The outcome of one command on a host set. */
export interface ExecutionReport {
  command: string;
  isSafe: boolean;
  /** True when dry-run kept this (unsafe) command from being sent: every result has `wouldRun`. */
  dryRun: boolean;
  hosts: string[];
  /** One result per host that was run (or would have run), in host order. */
  results: CommandResult[];
  /** Hosts never run because the success threshold could no longer be met. */
  notRun: string[];
  successes: number;
  successThreshold: number;
  thresholdMet: boolean;
}

const DEFAULT_MAX_PARALLEL = Number.POSITIVE_INFINITY;

/** Maps `items` with at most `limit` calls in flight, keeping the order of results. */
async function mapWithLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/** A result counts as a success when the command ran and exited 0 (or would run, in dry-run). */
export function isSuccess(r: CommandResult): boolean {
  return r.wouldRun === true || (r.error === undefined && r.exitCode === 0);
}

export interface RemoteExecutorOptions {
  /** Dry-run: unsafe commands are only reported as "would run", never sent. */
  dryRun: boolean;
  defaultTimeoutMs: number;
  /**
   * Hosts of one batch in flight at once (default: all of them). New connections go through the
   * transport's fan-out window, which is what bounds the handshakes in flight; a command on an
   * open connection is cheap, so nothing else needs a cap.
   */
  maxParallel?: number;
  /** Injected so tests need not wait for batch sleeps. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Runs commands on host sets in batches, with a success threshold. This is the one place
 * where dry-run is enforced for SSH: an unsafe command never reaches the transport.
 */
export class RemoteExecutor implements RemoteRunner {
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly transport: CommandTransport,
    private readonly options: RemoteExecutorOptions,
  ) {
    this.sleep = options.sleep ?? ((ms) => delay(ms));
  }

  get dryRun(): boolean {
    return this.options.dryRun;
  }

  /**
   * Runs `command` on `hosts` (names of the inventory). In dry-run, an unsafe command is not
   * sent: each host gets a `wouldRun` result and the report has `dryRun: true`.
   */
  async execute(
    hosts: readonly string[],
    command: RemoteCommand,
    options: ExecuteOptions = {},
  ): Promise<ExecutionReport> {
    const threshold = options.successThreshold ?? 1;
    const total = hosts.length;
    const report: ExecutionReport = {
      command: command.text,
      isSafe: command.isSafe,
      dryRun: false,
      hosts: [...hosts],
      results: [],
      notRun: [],
      successes: 0,
      successThreshold: threshold,
      thresholdMet: false,
    };
    // The dry-run gate, at the bottom (as spicerack's RemoteHosts._execute): nothing unsafe goes out.
    if (this.options.dryRun && !command.isSafe) {
      report.dryRun = true;
      report.results = hosts.map((host) => ({
        host,
        command: command.text,
        exitCode: null,
        stdout: '',
        stderr: '',
        durationMs: 0,
        wouldRun: true,
      }));
      report.successes = total;
      report.thresholdMet = true;
      return report;
    }
    const timeoutMs = options.timeoutMs ?? this.options.defaultTimeoutMs;
    const batches = splitBatches(hosts, options.batchSize);
    let done = 0;
    for (const [i, batch] of batches.entries()) {
      if (i > 0 && options.batchSleepMs) await this.sleep(options.batchSleepMs);
      const results = await mapWithLimit(
        batch,
        this.options.maxParallel ?? DEFAULT_MAX_PARALLEL,
        async (host) => {
          const result = await this.transport.exec(host, command.text, { stdin: options.stdin, timeoutMs });
          done++;
          options.onProgress?.({ done, total, result });
          return result;
        },
      );
      report.results.push(...results);
      report.successes += results.filter(isSuccess).length;
      const remaining = total - report.results.length;
      if (remaining > 0 && !canStillMeetThreshold(report.successes, remaining, total, threshold)) {
        report.notRun = hosts.slice(report.results.length);
        break;
      }
    }
    report.thresholdMet = report.successes >= requiredSuccesses(total, threshold);
    return report;
  }

  /** Runs argv (each word quoted) on one host; see {@link RemoteRunner}. */
  async run(
    host: string,
    argv: string[],
    options: { stdin?: string; timeoutMs?: number; isSafe?: boolean } = {},
  ): Promise<CommandResult> {
    const report = await this.execute([host], argvCommand(argv, { isSafe: options.isSafe }), {
      stdin: options.stdin,
      timeoutMs: options.timeoutMs,
    });
    const result = report.results[0];
    if (!result) throw new Error(`no result for ${host}`); // cannot happen: one host, no threshold to miss before it ran
    return result;
  }

  /** Closes the transport's connections (end of the run). */
  close(): Promise<void> {
    return this.transport.close();
  }
}
