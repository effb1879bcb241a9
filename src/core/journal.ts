import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Change } from './action.js';
import { GalleyError, UsageError } from './errors.js';
import { redactValue } from './secrets.js';

/** Where journals and the default audit log live: --state-dir, GALLEY_STATE_DIR, the config, or $XDG_STATE_HOME/galley. */
export function defaultStateDir(): string {
  if (process.env.GALLEY_STATE_DIR) return process.env.GALLEY_STATE_DIR;
  const xdg = process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state');
  return join(xdg, 'galley');
}

/**
 * An action's life in the journal. `applying` and `undoing` are written ahead, before the
 * change is attempted: a crash in between leaves an action that was started and never
 * finished, which rollback and resume treat as (possibly) applied.
 */
export type ActionStatus =
  | 'applying'
  | 'applied'
  | 'verified'
  | 'failed'
  | 'undoing'
  | 'undone'
  | 'undo-failed'
  | 'cannot-undo'
  | 'guard-refused'
  | 'undo-withheld';
export type StepStatus = 'done' | 'already-done' | 'skipped' | 'failed' | 'planned';
export type RunOutcome =
  | 'done'
  | 'dry-run'
  | 'failed'
  | 'refused'
  | 'rolled-back'
  | 'rollback-failed'
  | 'aborted'
  | 'interrupted'
  | 'unsafe';

export type JournalEntry =
  | {
      type: 'run-start';
      time: string;
      runId: string;
      cookbook: string;
      args: Record<string, string | undefined>;
      user: string;
      host: string;
      pid: number;
      dryRun: boolean;
      configFile?: string;
      task?: string;
      reason?: string;
      resumed?: boolean;
      /** Who approved the plan this run follows (two-person review). */
      approvedBy?: string;
    }
  | { type: 'step'; time: string; step: number; title: string; status: StepStatus; changes?: number }
  | (AppliedAction & {
      type: 'action';
      time: string;
      changes: Change[];
      status: ActionStatus;
      error?: string;
    })
  | { type: 'fact'; time: string; key: string; value: unknown }
  | { type: 'run-end'; time: string; outcome: RunOutcome; exitCode: number; message?: string };

/** Creates a private directory (0700): journals hold observed states, the audit log who did what. */
export function privateDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return dir;
}

/** The directory of a state directory's journals (created private). */
export function runsDir(stateDir: string): string {
  privateDir(stateDir);
  return privateDir(join(stateDir, 'runs'));
}

/** An append-only JSON-lines journal of one run; every line is flushed to disk before the Runner goes on. */
export class Journal {
  readonly file: string;

  constructor(
    stateDir: string,
    readonly runId: string,
  ) {
    this.file = join(runsDir(stateDir), `${runId}.jsonl`);
  }

  /** Appends an entry (redacted), synced so that a crash right after leaves it on disk. The file is 0600. */
  write(entry: JournalEntry): void {
    const fd = openSync(this.file, 'a', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(redactValue(entry))}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** Run ids as `newRunId` makes them: `20261122-030916-ece4`. */
export const RUN_ID_PATTERN = /^\d{8}-\d{6}-[0-9a-f]{4}$/;

/** Checks a run id's format, so that nothing outside the state directory is ever read as a journal. */
export function checkRunId(runId: string): string {
  if (!RUN_ID_PATTERN.test(runId)) {
    throw new UsageError(`"${runId}" is not a run id (they look like 20261122-030916-ece4)`, [
      '`cookbook runs` lists the runs',
    ]);
  }
  return runId;
}

/** What a journal file holds, with the problems found reading it. */
export interface JournalRead {
  entries: JournalEntry[];
  /** A truncated last line (a crash mid-write): reported, then ignored. */
  warnings: string[];
}

/**
 * Reads a run's journal. A bad or unknown run id is a usage error (exit 2). A torn last
 * line (a crash while it was written) is reported in `warnings` and ignored; a corrupt line
 * anywhere else makes the journal unusable and is an error naming the line.
 */
export function readJournalFile(stateDir: string, runId: string): JournalRead {
  checkRunId(runId);
  const file = join(stateDir, 'runs', `${runId}.jsonl`);
  if (!existsSync(file))
    throw new UsageError(`no run ${runId} in ${join(stateDir, 'runs')}`, [
      '`cookbook runs` lists the runs (with --state-dir for another directory)',
    ]);
  const lines = readFileSync(file, 'utf8').split('\n');
  while (lines.length && !lines[lines.length - 1]!.trim()) lines.pop();
  const entries: JournalEntry[] = [];
  const warnings: string[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const e = JSON.parse(line) as JournalEntry;
      if (typeof e !== 'object' || e === null || typeof (e as { type?: unknown }).type !== 'string')
        throw new Error('not a journal entry');
      entries.push(e);
    } catch (err) {
      const where = `${file} line ${i + 1}`;
      if (i === lines.length - 1) {
        warnings.push(`${where} is truncated (the process died while writing it); it was ignored`);
        return;
      }
      throw new GalleyError(
        `the journal ${where} is corrupt (${(err as Error).message}): the run cannot be resumed or rolled back from it`,
        {
          suggestions: ["read the journal by hand; the audit log has the run's START and END"],
        },
      );
    }
  });
  return { entries, warnings };
}

/** Reads a run's journal entries (see readJournalFile). */
export function readJournal(stateDir: string, runId: string): JournalEntry[] {
  return readJournalFile(stateDir, runId).entries;
}

export interface RunSummary {
  runId: string;
  cookbook: string;
  start: string;
  end?: string;
  user: string;
  dryRun: boolean;
  outcome: RunOutcome | 'running-or-crashed';
  exitCode?: number;
  task?: string;
  reason?: string;
  args: Record<string, string | undefined>;
  configFile?: string;
}

/** Summarises a journal: the last run-start (resumes add one) and the last run-end. */
export function summarize(entries: JournalEntry[]): RunSummary | undefined {
  const starts = entries.filter((e) => e.type === 'run-start');
  const first = starts[0];
  if (!first || first.type !== 'run-start') return undefined;
  const ends = entries.filter((e) => e.type === 'run-end');
  const lastEnd = ends[ends.length - 1];
  const lastStartIdx = entries.lastIndexOf(starts[starts.length - 1]!);
  const end =
    lastEnd && entries.lastIndexOf(lastEnd) > lastStartIdx && lastEnd.type === 'run-end'
      ? lastEnd
      : undefined;
  return {
    runId: first.runId,
    cookbook: first.cookbook,
    start: first.time,
    end: end?.time,
    user: first.user,
    dryRun: first.dryRun,
    outcome: end ? end.outcome : 'running-or-crashed',
    exitCode: end?.exitCode,
    task: first.task,
    reason: first.reason,
    args: first.args,
    configFile: first.configFile,
  };
}

/** Every run in the state directory, newest first. */
export function listRuns(stateDir: string): RunSummary[] {
  const dir = join(stateDir, 'runs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl') && RUN_ID_PATTERN.test(f.slice(0, -'.jsonl'.length)))
    .map((f) => {
      try {
        return summarize(readJournal(stateDir, f.slice(0, -'.jsonl'.length)));
      } catch {
        return undefined;
      }
    })
    .filter((s): s is RunSummary => s !== undefined)
    .sort((a, b) => (a.start < b.start ? 1 : -1));
}

export interface AppliedAction {
  step: number;
  index: number;
  kind: string;
  params: unknown;
  summary: string;
  before: unknown;
  /** See Action.id / Action.undoBefore. */
  id?: string;
  undoBefore?: readonly string[];
}

/** An applied action as the journal left it. */
export interface JournaledAction extends AppliedAction {
  /** The last thing the journal says about it. */
  last: ActionStatus;
}

/**
 * What a journal says: steps finished, facts, and the actions applied and not yet undone
 * (in the order they were first applied). An action started and never finished
 * (`applying`), or whose undo was started and never finished or failed, counts as applied:
 * whoever continues observes it again.
 */
export function journalState(entries: JournalEntry[]): {
  doneSteps: Set<number>;
  applied: JournaledAction[];
  facts: Map<string, unknown>;
} {
  const doneSteps = new Set<number>();
  const facts = new Map<string, unknown>();
  const applied = new Map<string, JournaledAction>();
  for (const e of entries) {
    if (e.type === 'step' && (e.status === 'done' || e.status === 'already-done')) doneSteps.add(e.step);
    if (e.type === 'fact') facts.set(e.key, e.value);
    if (e.type === 'action') {
      const key = `${e.step}/${e.index}`;
      const found = applied.get(key);
      if ((e.status === 'applying' || e.status === 'applied') && !found) {
        applied.set(key, {
          step: e.step,
          index: e.index,
          kind: e.kind,
          params: e.params,
          summary: e.summary,
          before: e.before,
          id: e.id,
          undoBefore: e.undoBefore,
          last: e.status,
        });
      } else if (e.status === 'undone') {
        applied.delete(key);
        // A step rolled back is no longer done: a resume runs it again.
        doneSteps.delete(e.step);
      } else if (found) found.last = e.status;
    }
  }
  return { doneSteps, applied: [...applied.values()], facts };
}

/** A new run id: sortable by time, unique enough to type. */
export function newRunId(now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${t}-${Math.random().toString(16).slice(2, 6)}`;
}
