import { setTimeout as delay } from 'node:timers/promises';
import { CheckError } from '../core/errors.js';
import { cmd, safeCmd, type RemoteCommand } from './command.js';
import { SshError } from './errors.js';
import type { RemoteExecutor } from './executor.js';
import type { CommandResult } from './types.js';

/** What `systemctl is-active` printed: active, inactive, failed, activating, unknown… */
export type ActiveState = string;

export type ServiceAction = 'start' | 'stop' | 'restart';

/** A change made to a unit, with the state before it, so that it can be undone. */
export interface ServiceChange {
  host: string;
  unit: string;
  action: ServiceAction;
  /** The active state observed just before the action. */
  previous: ActiveState;
  /** Dry-run: the action was only shown, never sent. */
  wouldRun: boolean;
}

/** A systemctl command failed on a host. */
export class ServiceError extends SshError {}

/** Unit names as systemd allows them (letters, digits, `:-_.\@`); anything else is refused before any SSH. */
const UNIT_NAME = /^[A-Za-z0-9:_.\\@-]+$/;

/** The action word is literal template text, so that plans read `systemctl restart 'etcd'`. */
const ACTION_COMMANDS: Record<ServiceAction, (unit: string) => RemoteCommand> = {
  start: (unit) => cmd`systemctl start ${unit}`,
  stop: (unit) => cmd`systemctl stop ${unit}`,
  restart: (unit) => cmd`systemctl restart ${unit}`,
};

function checkUnit(unit: string): void {
  if (!UNIT_NAME.test(unit) || unit.startsWith('-')) throw new ServiceError(`invalid unit name "${unit}"`);
}

function describeFailure(r: CommandResult): string {
  if (r.error !== undefined) return r.error;
  const stderr = r.stderr.trim().split('\n').slice(-1)[0] ?? '';
  return `exit code ${r.exitCode}${stderr ? `: ${stderr}` : ''}`;
}

/**
 * start / stop / restart / is-active of a unit over SSH, returning the state before each
 * change so that the action layer can undo it ({@link restore}) and verify it ({@link waitForState}).
 * Reads run in dry-run; changes are only shown (the executor's gate).
 */
export class ServiceControl {
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly executor: RemoteExecutor,
    options: { sleep?: (ms: number) => Promise<void> } = {},
  ) {
    this.sleep = options.sleep ?? ((ms) => delay(ms));
  }

  private async runOne(host: string, command: RemoteCommand): Promise<CommandResult> {
    const report = await this.executor.execute([host], command);
    const result = report.results[0];
    if (!result) throw new ServiceError(`no result from ${host} for ${command.text}`);
    return result;
  }

  /** The unit's active state (read-only; also runs in dry-run). */
  async isActive(host: string, unit: string): Promise<ActiveState> {
    checkUnit(unit);
    const r = await this.runOne(host, safeCmd`systemctl is-active ${unit}`);
    if (r.error !== undefined)
      throw new ServiceError(`cannot read the state of ${unit} on ${host}: ${r.error}`);
    // is-active exits non-zero for every state but "active", and prints the state either way.
    const state = r.stdout.trim().split('\n')[0] ?? '';
    return state || (r.exitCode === 0 ? 'active' : 'unknown');
  }

  private async change(host: string, unit: string, action: ServiceAction): Promise<ServiceChange> {
    const previous = await this.isActive(host, unit);
    const r = await this.runOne(host, ACTION_COMMANDS[action](unit));
    if (r.wouldRun) return { host, unit, action, previous, wouldRun: true };
    if (r.exitCode !== 0)
      throw new ServiceError(`systemctl ${action} ${unit} failed on ${host}: ${describeFailure(r)}`);
    return { host, unit, action, previous, wouldRun: false };
  }

  /** Starts the unit; returns the state before. In dry-run, only shown. */
  start(host: string, unit: string): Promise<ServiceChange> {
    return this.change(host, unit, 'start');
  }

  /** Stops the unit; returns the state before. In dry-run, only shown. */
  stop(host: string, unit: string): Promise<ServiceChange> {
    return this.change(host, unit, 'stop');
  }

  /** Restarts the unit; returns the state before. In dry-run, only shown. */
  restart(host: string, unit: string): Promise<ServiceChange> {
    return this.change(host, unit, 'restart');
  }

  /**
   * Undo: puts the unit back in the state observed before `change` (started if it was
   * active, stopped otherwise). Does nothing when it is already there.
   */
  async restore(
    change: Pick<ServiceChange, 'host' | 'unit' | 'previous'>,
  ): Promise<ServiceChange | undefined> {
    const wantActive = change.previous === 'active';
    const now = await this.isActive(change.host, change.unit);
    if ((now === 'active') === wantActive) return undefined;
    return wantActive ? this.start(change.host, change.unit) : this.stop(change.host, change.unit);
  }

  /**
   * Verification: polls is-active until the unit is `expected` ("active" or "inactive";
   * any state but active counts as inactive), or throws a CheckError with the last state seen.
   */
  async waitForState(
    host: string,
    unit: string,
    expected: 'active' | 'inactive',
    options: { timeoutMs: number; intervalMs?: number },
  ): Promise<void> {
    const deadline = Date.now() + options.timeoutMs;
    let last = '';
    for (;;) {
      last = await this.isActive(host, unit);
      if ((last === 'active') === (expected === 'active')) return;
      if (Date.now() >= deadline) break;
      await this.sleep(options.intervalMs ?? 500);
    }
    throw new CheckError(
      `${unit} on ${host} is ${last}, expected ${expected} (waited ${Math.round(options.timeoutMs / 1000)}s)`,
      {
        suggestions: [`look at it with: cookbook exec ${host} -- systemctl status ${unit}`],
      },
    );
  }
}
