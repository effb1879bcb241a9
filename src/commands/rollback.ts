import { Args } from '@oclif/core';
import { GalleyCommand, reportError } from '../cli/base.js';
import { runFlags } from '../cli/flags.js';
import { EXIT_CODES_HELP, UsageError } from '../core/errors.js';
import { readJournal, summarize } from '../core/journal.js';
import { streamLogger } from '../core/log.js';

/** `cookbook rollback RUN`: undo a run, newest action first. */
export default class Rollback extends GalleyCommand {
  static override summary =
    'Undo what a finished, failed or interrupted run applied, newest first, verifying each.';
  static override description = `Each action is restored to the state the journal observed before it ran. An action that cannot be undone, or whose undo fails, stops the rollback with exit 93 and a list of what is left.\n\n${EXIT_CODES_HELP}`;
  static override examples = [
    '<%= config.bin %> rollback 20261122-030916-ece4',
    '<%= config.bin %> rollback 20261122-030916-ece4 --yes',
  ];
  static override args = {
    run: Args.string({ description: 'run id (see `cookbook runs`)', required: true }),
  };
  static override flags = { yes: runFlags.yes, config: runFlags.config, 'state-dir': runFlags['state-dir'] };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Rollback);
    let code: number;
    try {
      const { loadCookbook } = await import('../cli/catalog.js');
      const { rollbackRun } = await import('../core/runner.js');
      const { terminalPrompter } = await import('../core/prompt.js');
      const { cliContext } = await import('../cli/context.js');
      const ctx = cliContext(flags);
      const s = summarize(readJournal(ctx.stateDir, args.run));
      if (!s) throw new UsageError(`run ${args.run} has no start record`);
      await loadCookbook(s.cookbook); // registers the action kinds its journal names
      const result = await rollbackRun({
        runId: args.run,
        stateDir: ctx.stateDir,
        loadConfig: ctx.loadConfig,
        yes: flags.yes,
        prompter: terminalPrompter(),
        out: process.stdout,
        log: streamLogger(),
        audit: ctx.audit,
      });
      code = result.exitCode;
    } catch (e) {
      code = reportError(e);
    }
    if (code !== 0) this.exit(code);
  }
}
