import { Flags } from '@oclif/core';
import { GalleyCommand, reportError } from '../cli/base.js';
import { checkRunId, journalState, listRuns, readJournalFile } from '../core/journal.js';

/** `cookbook runs`: past runs with their outcome, newest first. */
export default class Runs extends GalleyCommand {
  static override summary = 'List past runs with their outcome (newest first), or show one run.';
  static override examples = [
    '<%= config.bin %> runs',
    '<%= config.bin %> runs --limit 5 --json',
    '<%= config.bin %> runs 20261122-030916-ece4',
  ];
  static override args = {};
  static override strict = false;
  static override flags = {
    limit: Flags.integer({ summary: 'Show at most N runs.', default: 20 }),
    json: Flags.boolean({ summary: 'Print JSON.' }),
    config: Flags.string({
      char: 'c',
      env: 'GALLEY_CONFIG',
      summary: 'Environment file (for its state_dir).',
    }),
    'state-dir': Flags.string({ env: 'GALLEY_STATE_DIR', summary: 'Where journals live.' }),
  };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(Runs);
    try {
      const { cliContext } = await import('../cli/context.js');
      const ctx = cliContext(flags);
      const runId = argv[0] as string | undefined;
      if (runId) {
        const { entries, warnings } = readJournalFile(ctx.stateDir, checkRunId(runId));
        for (const w of warnings) process.stderr.write(`WARNING: ${w}\n`);
        if (flags.json) {
          this.log(
            JSON.stringify(
              { entries, ...journalState(entries), doneSteps: [...journalState(entries).doneSteps] },
              null,
              2,
            ),
          );
          return;
        }
        for (const e of entries) {
          if (e.type === 'run-start')
            this.log(
              `${e.time} START ${e.cookbook} ${JSON.stringify(e.args)} by ${e.user}@${e.host}${e.dryRun ? ' (dry-run)' : ''}`,
            );
          else if (e.type === 'step') this.log(`${e.time}   step ${e.step + 1} "${e.title}": ${e.status}`);
          else if (e.type === 'action')
            this.log(`${e.time}     ${e.status.padEnd(13)} ${e.summary}${e.error ? ` — ${e.error}` : ''}`);
          else if (e.type === 'fact') this.log(`${e.time}   fact ${e.key} = ${JSON.stringify(e.value)}`);
          else
            this.log(`${e.time} END ${e.outcome} (exit ${e.exitCode})${e.message ? `: ${e.message}` : ''}`);
        }
        const left = journalState(entries).applied;
        if (left.length)
          this.log(`${left.length} applied action(s) not undone; \`cookbook rollback ${runId}\` undoes them`);
        return;
      }
      const runs = listRuns(ctx.stateDir).slice(0, flags.limit);
      if (flags.json) {
        this.log(JSON.stringify(runs, null, 2));
        return;
      }
      if (!runs.length) {
        this.log(`no runs yet in ${ctx.stateDir}`);
        return;
      }
      for (const r of runs) {
        const mode = r.dryRun ? 'dry-run' : 'live';
        this.log(
          `${r.runId}  ${r.outcome.padEnd(18)} ${mode.padEnd(7)} ${r.cookbook}  ${r.user}${r.task ? `  ${r.task}` : ''}`,
        );
      }
    } catch (e) {
      this.exit(reportError(e));
    }
  }
}
