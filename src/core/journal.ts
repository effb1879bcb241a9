import {
  appendFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  existsSync,
  openSync,
  closeSync,
  fsyncSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Change } from './action.js';
import { redactValue } from './secrets.js';

/** Where journals and the default audit log live: --state-dir, GALLEY_STATE_DIR, the config, or $XDG_STATE_HOME/galley. */
export function defaultStateDir(): string {
  if (process.env.GALLEY_STATE_DIR) return process.env.GALLEY_STATE_DIR;
  const xdg = process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state');
  return join(xdg, 'galley');
}

export type ActionStatus = 'applied' | 'verified' | 'failed' | 'undone' | 'undo-failed' | 'cannot-undo';
export type StepStatus = 'done' | 'already-done' | 'skipped' | 'failed' | 'planned';
export type RunOutcome =
  'done' | 'dry-run' | 'failed' | 'rolled-back' | 'rollback-failed' | 'aborted' | 'interrupted';

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

/** An append-only JSON-lines journal of one run; every line is flushed to disk before the Runner goes on. */
export class Journal {
  readonly file: string;

  constructor(
    stateDir: string,
    readonly runId: string,
  ) {
    const dir = join(stateDir, 'runs');
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, `${runId}.jsonl`);
  }

  /** Appends an entry (redacted), synced so that a crash right after leaves it on disk. */
  write(entry: JournalEntry): void {
    appendFileSync(this.file, `${JSON.stringify(redactValue(entry))}\n`);
    const fd = openSync(this.file, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** Reads a run's journal; unknown or truncated last lines (a crash mid-write) are ignored. */
export function readJournal(stateDir: string, runId: string): JournalEntry[] {
  const file = join(stateDir, 'runs', `${runId}.jsonl`);
  if (!existsSync(file)) throw new Error(`no run ${runId} in ${join(stateDir, 'runs')}`);
  const entries: JournalEntry[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      entries.push(JSON.parse(line) as JournalEntry);
    } catch {
      // a torn last line after a crash
    }
  }
  return entries;
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
    .filter((f) => f.endsWith('.jsonl'))
    .map((f) => summarize(readJournal(stateDir, f.slice(0, -'.jsonl'.length))))
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
}

/** What a journal says: steps finished, and actions applied and not yet undone (in order). */
export function journalState(entries: JournalEntry[]): {
  doneSteps: Set<number>;
  applied: AppliedAction[];
  facts: Map<string, unknown>;
} {
  const doneSteps = new Set<number>();
  const facts = new Map<string, unknown>();
  const applied = new Map<string, AppliedAction>();
  for (const e of entries) {
    if (e.type === 'step' && (e.status === 'done' || e.status === 'already-done')) doneSteps.add(e.step);
    if (e.type === 'fact') facts.set(e.key, e.value);
    if (e.type === 'action') {
      const key = `${e.step}/${e.index}`;
      if (e.status === 'applied' && !applied.has(key)) {
        applied.set(key, {
          step: e.step,
          index: e.index,
          kind: e.kind,
          params: e.params,
          summary: e.summary,
          before: e.before,
        });
      }
      if (e.status === 'undone') applied.delete(key);
    }
  }
  return { doneSteps, applied: [...applied.values()], facts };
}

/** A new run id: sortable by time, unique enough to type. */
export function newRunId(now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${t}-${Math.random().toString(16).slice(2, 6)}`;
}
