import { Flags } from '@oclif/core';
import { GalleyCommand, reportError } from '../cli/base.js';
import { UsageError } from '../core/errors.js';
import type { JournalEntry } from '../core/journal.js';

/** One row of `cookbook runs`, from this host's journals or from the shared copy in etcd. */
interface RunRow {
  runId: string;
  cookbook: string;
  state: string;
  dryRun: boolean;
  user: string;
  host: string;
  owner?: string;
  task?: string;
  step?: { number: number; what: string };
  started: string;
  /** The owner's heartbeat in etcd is fresh (it runs now). */
  alive?: boolean;
  /** Where the row comes from: `local`, or the etcd clusters that hold it. */
  from: string[];
}

const STATES = [
  'running',
  'running-or-crashed',
  'done',
  'dry-run',
  'failed',
  'refused',
  'rolled-back',
  'rollback-failed',
  'aborted',
  'interrupted',
  'unsafe',
] as const;

/** `cookbook runs`: past runs with their outcome, newest first; with shared runs, every operator host's. */
export default class Runs extends GalleyCommand {
  static override summary =
    "List runs with their outcome (newest first), every operator host's when runs are shared, or show one run.";
  static override description =
    "With the config's `runs: {shared: true}`, every run's journal is also kept in etcd: the list then holds the runs of every operator host (with where each runs, its state and current step), and `cookbook runs RUN` shows a run of any host. This host's journals whose shared copy fell behind while etcd was unreachable are caught up first; shared copies older than runs.keep are pruned.";
  static override examples = [
    '<%= config.bin %> runs',
    '<%= config.bin %> runs --host cumin2002.codfw.wmnet --state running',
    '<%= config.bin %> runs --cookbook etcd.switchover --limit 5 --json',
    '<%= config.bin %> runs 20261122-030916-ece4',
  ];
  static override args = {};
  static override strict = false;
  static override flags = {
    limit: Flags.integer({ summary: 'Show at most N runs.', default: 20 }),
    json: Flags.boolean({ summary: 'Print JSON.' }),
    host: Flags.string({ summary: 'Only runs of this operator host (its full name).' }),
    cookbook: Flags.string({ summary: 'Only runs of this cookbook.' }),
    state: Flags.string({ summary: `Only runs in this state (${STATES.join(', ')}).` }),
    config: Flags.string({
      char: 'c',
      env: 'GALLEY_CONFIG',
      summary: 'Environment file (for its state_dir and the shared runs).',
    }),
    'state-dir': Flags.string({ env: 'GALLEY_STATE_DIR', summary: 'Where journals live.' }),
  };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(Runs);
    let ctx: import('../cli/context.js').CliContext | undefined;
    try {
      if (flags.state && !(STATES as readonly string[]).includes(flags.state))
        throw new UsageError(`--state: unknown state "${flags.state}"; known: ${STATES.join(', ')}`);
      const { cliContext } = await import('../cli/context.js');
      const { catchUpShared } = await import('../core/shared-runs.js');
      ctx = cliContext(flags);
      const shared = await ctx.sharedRuns();
      const say = (l: string) => process.stderr.write(`${l}\n`);
      if (shared) await catchUpShared(ctx.stateDir, shared.copies, say);
      const runId = argv[0] as string | undefined;
      if (runId) await this.showOne(ctx.stateDir, runId, shared, flags.json);
      else await this.list(ctx.stateDir, shared, flags, say);
    } catch (e) {
      this.exit(reportError(e));
    } finally {
      for (const c of (await ctx?.sharedRuns().catch(() => undefined))?.copies ?? []) c.close?.();
    }
  }

  async showOne(
    stateDir: string,
    runId: string,
    shared: import('../core/shared-runs.js').SharedRuns | undefined,
    json: boolean,
  ): Promise<void> {
    const { checkRunId, journalState, readJournalFile } = await import('../core/journal.js');
    const { journalLines } = await import('../core/shared-runs.js');
    const { join } = await import('node:path');
    checkRunId(runId);
    const local = journalLines(join(stateDir, 'runs', `${runId}.jsonl`));
    let entries: JournalEntry[] = [];
    let from = 'this host';
    for (const copy of shared?.copies ?? []) {
      try {
        const remote = await copy.entries(runId);
        if (remote && remote.length > Math.max(local.length, entries.length)) {
          entries = remote.map((l) => JSON.parse(l) as JournalEntry);
          from = `etcd (${copy.name})`;
        }
      } catch (e) {
        process.stderr.write(
          `WARNING: the shared runs in etcd (${copy.name}) cannot be read: ${(e as Error).message.split('\n')[0]}\n`,
        );
      }
    }
    if (from === 'this host') {
      const read = readJournalFile(stateDir, runId);
      for (const w of read.warnings) process.stderr.write(`WARNING: ${w}\n`);
      entries = read.entries;
    }
    const state = journalState(entries);
    if (json) {
      this.log(JSON.stringify({ entries, ...state, doneSteps: [...state.doneSteps], from }, null, 2));
      return;
    }
    if (from !== 'this host') this.log(`(journal from ${from})`);
    const { formatJournal } = await import('../core/journal-view.js');
    for (const line of formatJournal(entries, runId)) this.log(line);
  }

  async list(
    stateDir: string,
    shared: import('../core/shared-runs.js').SharedRuns | undefined,
    flags: { limit: number; json: boolean; host?: string; cookbook?: string; state?: string },
    say: (l: string) => void,
  ): Promise<void> {
    const { listRuns } = await import('../core/journal.js');
    const { listSharedRuns } = await import('../core/shared-runs.js');
    const { hostname } = await import('node:os');
    const rows = new Map<string, RunRow>();
    for (const r of listRuns(stateDir)) {
      rows.set(r.runId, {
        runId: r.runId,
        cookbook: r.cookbook,
        state: r.outcome,
        dryRun: r.dryRun,
        user: r.user,
        host: r.host ?? hostname(),
        task: r.task,
        started: r.start,
        from: ['local'],
      });
    }
    if (shared) {
      const found = await listSharedRuns(shared);
      for (const u of found.unreachable)
        say(`WARNING: the shared runs in etcd ${u}: the list may miss runs of other operator hosts`);
      if (found.pruned.length)
        say(`  pruned ${found.pruned.length} shared run(s) older than runs.keep from etcd`);
      for (const m of found.runs) {
        const local = rows.get(m.runId);
        rows.set(m.runId, {
          runId: m.runId,
          cookbook: m.cookbook,
          // A run without an end whose heartbeat lapsed is not known to run any more.
          state: m.state === 'running' && !m.alive ? 'running-or-crashed' : m.state,
          dryRun: m.dryRun,
          user: m.user,
          host: m.host,
          owner: m.owner,
          task: m.task,
          step: m.step,
          started: m.started,
          alive: m.alive,
          from: [...(local ? ['local'] : []), ...m.copies],
        });
      }
    }
    const runs = [...rows.values()]
      .filter((r) => !flags.host || r.host === flags.host)
      .filter((r) => !flags.cookbook || r.cookbook === flags.cookbook)
      .filter((r) => !flags.state || r.state === flags.state)
      .sort((a, b) => (a.started < b.started ? 1 : -1))
      .slice(0, flags.limit);
    if (flags.json) {
      this.log(JSON.stringify(runs, null, 2));
      return;
    }
    if (!runs.length) {
      this.log(
        `no runs${flags.host || flags.cookbook || flags.state ? ' match' : ' yet'}${shared ? '' : ` in ${stateDir}`}`,
      );
      return;
    }
    for (const r of runs) {
      const mode = r.dryRun ? 'dry-run' : 'live';
      const step = r.step ? `  step ${r.step.number}` : '';
      this.log(
        `${r.runId}  ${r.state.padEnd(18)} ${mode.padEnd(7)} ${r.cookbook}  ${r.user}@${r.host}${step}${r.task ? `  ${r.task}` : ''}`,
      );
    }
  }
}
