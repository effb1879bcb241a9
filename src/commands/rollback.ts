import { Args } from '@oclif/core';
import { GalleyCommand, reportError } from '../cli/base.js';
import { runFlags } from '../cli/flags.js';
import { EXIT_CODES_HELP } from '../core/errors.js';
import { checkRunId, readJournal, summarize } from '../core/journal.js';
import { streamLogger } from '../core/log.js';

/** `cookbook rollback RUN`: undo a run, newest action first. */
export default class Rollback extends GalleyCommand {
  static override summary =
    'Undo what a finished, failed or interrupted run applied, newest first, verifying each.';
  static override description = `Each action is restored to the state the journal observed before it ran, newest first, and verified. An undo that fails, an action that cannot be undone, or an undo guard that refuses (data would be lost) does not stop the rollback: every action that does not depend on it is still undone, then the rollback ends with exit 93 and the list of what is still applied. Run it again once the cause is fixed. The action kinds come with Galley, so a run whose cookbook was renamed or removed can still be rolled back.\n\n${EXIT_CODES_HELP}`;
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
      await import('../actions/index.js'); // registers every action kind a journal can name
      const s = summarize(readJournal(ctx.stateDir, checkRunId(args.run)));
      // A cookbook may define action kinds of its own; one that no longer exists is fine.
      if (s) await loadCookbook(s.cookbook).catch(() => undefined);
      const result = await rollbackRun({
        runId: args.run,
        stateDir: ctx.stateDir,
        loadConfig: ctx.loadConfig,
        yes: flags.yes,
        prompter: terminalPrompter(),
        out: process.stdout,
        errOut: process.stderr,
        log: streamLogger(),
        audit: ctx.audit,
      });
      code = result.exitCode;
      await ctx.audit.flush(); // announcements still in flight (each bounded by its timeout)
    } catch (e) {
      code = reportError(e);
    }
    if (code !== 0) this.exit(code);
  }
}
