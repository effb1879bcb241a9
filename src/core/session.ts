import { hostname } from 'node:os';
import type { AnyAction } from './action.js';
import { actionFromJournal } from './action.js';
import type { AuditLog } from './audit.js';
import { ExitCode, GalleyError, InterruptedError, LockHeldError, UsageError, formatError } from './errors.js';
import {
  Journal,
  type JournalEntry,
  type JournaledAction,
  type RunOutcome,
  journalState,
  newRunId,
  readJournalFile,
  summarize,
  type RunSummary,
} from './journal.js';
import { currentOwner, currentUser, type LockHandle, type LockManager, type LockRequest } from './lock.js';
import type { Output } from './log.js';
import { redact } from './secrets.js';
import { SharedJournal, type SharedRuns, type Takeover } from './shared-runs.js';
import { formatDuration } from '../util/duration.js';
import { WaitAborted, waitUntil } from '../util/wait.js';

/** An action this run (or an earlier attempt of it) applied and has not undone. */
export interface AppliedRecord {
  step: number;
  index: number;
  action: AnyAction;
  before: unknown;
  /** What the journal said last about it (an earlier attempt's `applying` means: maybe applied). */
  last?: JournaledAction['last'];
  /** The child runs its step belongs to (labels, outermost first), for the journal. */
  within?: readonly string[];
}

/** How a run ends: its outcome, exit code and the one message for the operator. */
export class Stop extends Error {
  /** What the final line prints when the error itself was already shown (default: the message). */
  shown?: string;

  constructor(
    readonly outcome: RunOutcome,
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** What a journal of an earlier attempt says, for resume. */
export interface PriorAttempt {
  summary: RunSummary;
  /** Who approved the reviewed plan of the first attempt. */
  approvedBy?: string;
  doneSteps: Set<number>;
  applied: JournaledAction[];
  facts: Map<string, unknown>;
  warnings: string[];
}

/**
 * Decides whether a run can be resumed, from its journal: not a dry-run, not finished, and
 * not still running (its process alive on this host). Throws UsageError (exit 2) saying why not.
 */
export function resumableRun(stateDir: string, runId: string): PriorAttempt {
  const { entries, warnings } = readJournalFile(stateDir, runId);
  const summary = summarize(entries);
  if (!summary) throw new UsageError(`run ${runId} has no start record: its journal is not usable`);
  if (summary.dryRun)
    throw new UsageError(`run ${runId} was a dry-run: there is nothing to resume; run the cookbook`);
  if (summary.outcome === 'done' || summary.outcome === 'rolled-back')
    throw new UsageError(`run ${runId} is ${summary.outcome}: there is nothing to resume`);
  const live = runningOwner(entries);
  if (live)
    throw new UsageError(`run ${runId} is still running: ${live}`, [
      'wait for it to end, or stop that process first',
    ]);
  const state = journalState(entries);
  const first = entries.find((e) => e.type === 'run-start');
  const approvedBy = first?.type === 'run-start' ? first.approvedBy : undefined;
  return { summary, ...state, warnings, ...(approvedBy ? { approvedBy } : {}) };
}

/** "pid N on this host" when the journal's last attempt has no end and its process is alive here. */
export function runningOwner(entries: JournalEntry[]): string | undefined {
  const starts = entries.filter((e) => e.type === 'run-start');
  const last = starts[starts.length - 1];
  if (!last || last.type !== 'run-start') return undefined;
  const endedAfter = entries.slice(entries.lastIndexOf(last)).some((e) => e.type === 'run-end');
  if (endedAfter || last.host !== hostname() || last.pid === process.pid) return undefined;
  try {
    process.kill(last.pid, 0);
    return `process ${last.pid} on ${last.host} (started ${last.time})`;
  } catch {
    return undefined;
  }
}

export interface SessionOptions {
  stateDir: string;
  audit: AuditLog;
  out: Output;
  /** Where the one final error line goes (stderr in the CLI). */
  errOut?: Output;
  /** The cookbook's name, or "rollback NAME". */
  name: string;
  rawArgs: Record<string, string | undefined>;
  dryRun: boolean;
  /** An existing run to continue (resume or rollback), or undefined for a new one. */
  runId?: string;
  resumed?: boolean;
  task?: string;
  reason?: string;
  configFile?: string;
  approvedBy?: string;
  facts?: Map<string, unknown>;
  /** Where the journal is also shared between operator hosts (etcd), when it is. */
  shared?: SharedRuns;
  /** This attempt takes the run over from another operator host (resume, rollback). */
  takeover?: Takeover;
}

/**
 * One run's bookkeeping, shared by run, resume and rollback: its id, journal and audit
 * records, its facts, the actions applied and not undone, and its lock. Everything the
 * operator reads goes through `say` (redacted).
 */
export class RunSession {
  readonly runId: string;
  readonly journal: Journal;
  readonly who = { user: currentUser(), host: hostname() };
  readonly applied: AppliedRecord[] = [];
  readonly facts: Map<string, unknown>;
  readonly argText: string;
  readonly started = Date.now();
  /**
   * Set once a step marked as the point of no return has applied something (in this attempt
   * or an earlier one): from then on a failure stops the run instead of rolling it back.
   */
  noReturn: { step: number; title: string } | undefined;
  /** The steps not done yet (numbered from 1, with their titles), for the message of a run that stops. */
  remaining: string[] = [];
  /** The locks held, in the order taken (a cookbook's, then its children's). */
  #locks: LockHandle[] = [];
  #ended = false;
  readonly #shared: SharedJournal | undefined;

  constructor(readonly o: SessionOptions) {
    this.runId = o.runId ?? newRunId();
    this.journal = new Journal(o.stateDir, this.runId);
    // A dry-run changes nothing, etcd included: its journal stays on this host.
    if (o.shared?.copies.length && !o.dryRun) {
      const shared = new SharedJournal({
        stateDir: o.stateDir,
        runId: this.runId,
        copies: o.shared.copies,
        say: (l) => this.fail(l),
      });
      this.#shared = shared;
      this.journal.onWrite = () => shared.notify();
    }
    this.facts = new Map(o.facts ?? []);
    this.argText = Object.entries(o.rawArgs)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `--${k}=${v}`)
      .join(' ');
  }

  get dryRun(): boolean {
    return this.o.dryRun;
  }

  /** A line for the operator (progress, plans), redacted. */
  say(line: string): void {
    this.o.out.write(`${redact(line)}\n`);
  }

  /** The one final error line (stderr in the CLI). */
  fail(line: string): void {
    (this.o.errOut ?? this.o.out).write(`${redact(line)}\n`);
  }

  now(): string {
    return new Date().toISOString();
  }

  /** Journal run-start and audit START. */
  start(): void {
    this.journal.write({
      type: 'run-start',
      time: this.now(),
      runId: this.runId,
      cookbook: this.o.name,
      args: this.o.rawArgs,
      ...this.who,
      pid: process.pid,
      dryRun: this.o.dryRun,
      configFile: this.o.configFile,
      task: this.o.task,
      reason: this.o.reason,
      resumed: Boolean(this.o.resumed),
      ...(this.o.approvedBy ? { approvedBy: this.o.approvedBy } : {}),
    });
    const t = this.o.takeover;
    if (t) {
      this.journal.write({
        type: 'takeover',
        time: this.now(),
        from: t.from,
        by: currentOwner(),
        why: t.why,
      });
      this.say(`  ⇄ taking run ${this.runId} over from ${t.from}: ${t.why}`);
    }
    this.o.audit.record({
      event: 'START',
      ...this.#auditFields(),
      ...(this.o.approvedBy ? { approvedBy: this.o.approvedBy } : {}),
      ...(t ? { takeoverFrom: t.from } : {}),
    });
    if (!this.o.dryRun && this.o.shared)
      this.#shared?.startHeartbeat(currentOwner(), this.o.shared.heartbeatTtlMs);
  }

  /**
   * After the end: waits a little for the shared copy of the journal to catch up and says
   * when it could not (it catches up from the next command that reads runs on this host).
   */
  async finishShared(timeoutMs = 3000): Promise<void> {
    const behind = await this.#shared?.finish(timeoutMs);
    if (behind?.length)
      this.fail(
        `WARNING: the shared copy of run ${this.runId} in etcd (${behind.join(', ')}) is behind its local journal ${this.journal.file}; it catches up from the next \`cookbook runs\` or run on this host once etcd answers`,
      );
  }

  /** A fact observed once per run and journaled (not in a dry-run). */
  async fact<T>(key: string, compute: () => Promise<T>): Promise<T> {
    if (this.facts.has(key)) return this.facts.get(key) as T;
    const value = await compute();
    this.facts.set(key, value);
    if (!this.o.dryRun) this.journal.write({ type: 'fact', time: this.now(), key, value });
    return value;
  }

  /** Remembers an applied action for rollback (once). */
  remember(r: AppliedRecord): void {
    if (!this.applied.some((x) => x.step === r.step && x.index === r.index)) this.applied.push(r);
  }

  /** Puts back, for resume and rollback, the actions an earlier attempt applied. */
  restoreApplied(prior: readonly JournaledAction[]): void {
    for (const a of prior) {
      this.remember({
        step: a.step,
        index: a.index,
        action: actionFromJournal(a.kind, a.params, { id: a.id, undoBefore: a.undoBefore }),
        before: a.before,
        last: a.last,
        ...(a.within ? { within: a.within } : {}),
      });
    }
  }

  /**
   * Takes the cookbook's lock. A lock held by another run is reported with its holder; any
   * other failure of the lock store names the store and the way out.
   */
  async takeLock(
    manager: LockManager,
    spec: Omit<LockRequest, 'owner' | 'runId'>,
    store = 'the lock store',
    wait: { ms?: number; signal?: AbortSignal; takeOver?: boolean } = {},
  ): Promise<void> {
    if (this.#locks.some((l) => l.name === spec.name)) return;
    const acquire = () =>
      manager.acquire({
        ...spec,
        owner: currentOwner(),
        runId: this.runId,
        ...(wait.takeOver ? { takeOver: true } : {}),
      });
    try {
      if (!wait.ms) this.#locks.push(await acquire());
      else {
        // --lock-wait: the held lock is retried until the deadline, its holder shown each time it changes.
        let shown = '';
        const held = await waitUntil({
          what: `lock ${spec.name}`,
          probe: acquire,
          timeoutMs: wait.ms,
          intervalMs: 500,
          maxIntervalMs: 2000,
          retryOn: (e) => e instanceof LockHeldError,
          signal: wait.signal,
          onAttempt: ({ error }) => {
            const holders = error instanceof LockHeldError ? error.holders.join('; ') : '';
            if (holders && holders !== shown) {
              shown = holders;
              this.say(
                `  ⏳ lock ${spec.name} is held by ${holders}; waiting up to ${formatDuration(wait.ms ?? 0)}`,
              );
            }
          },
          timeoutError: (_m, last) =>
            last instanceof LockHeldError
              ? new LockHeldError(spec.name, [
                  `${last.holders.join('; ')} (still, after waiting ${formatDuration(wait.ms ?? 0)})`,
                ])
              : new GalleyError(_m),
        });
        this.#locks.push(held);
      }
    } catch (e) {
      if (e instanceof WaitAborted) throw new InterruptedError();
      if (e instanceof LockHeldError || e instanceof UsageError) throw e;
      throw new GalleyError(
        `cannot take the lock ${spec.name} in ${store}: ${formatError(e).split('\n')[0]}`,
        {
          suggestions: [
            'restore the lock store (an etcd cluster without quorum cannot take locks), or',
            'pass --no-locks if you are sure no other run can change the same things',
          ],
          cause: e,
        },
      );
    }
    this.say(`  🔒 lock ${spec.name} taken`);
  }

  /** Whether this run holds the lock `name` already. */
  holdsLock(name: string): boolean {
    return this.#locks.some((l) => l.name === name);
  }

  /** Releases every lock held, newest first. */
  async releaseLock(): Promise<void> {
    const locks = this.#locks.reverse();
    this.#locks = [];
    for (const lock of locks) {
      try {
        await lock.release();
      } catch (e) {
        this.say(`WARNING: could not release lock ${lock.name}: ${formatError(e)} (it expires by itself)`);
      }
    }
  }

  /** Journal run-end and audit END, once. */
  end(r: { outcome: RunOutcome; exitCode: number; message?: string }): void {
    if (this.#ended) return;
    this.#ended = true;
    this.journal.write({
      type: 'run-end',
      time: this.now(),
      outcome: r.outcome,
      exitCode: r.exitCode,
      message: r.message,
    });
    this.o.audit.record({ event: 'END', ...this.#auditFields(), outcome: r.outcome, exitCode: r.exitCode });
  }

  /** What the START and END lines of this run share. */
  #auditFields() {
    return {
      runId: this.runId,
      ...this.who,
      cookbook: this.o.name,
      args: this.argText,
      task: this.o.task,
      reason: this.o.reason,
      dryRun: this.o.dryRun,
    };
  }
}

export { ExitCode };
