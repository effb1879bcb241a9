import { Args } from '@oclif/core';
import { GalleyCommand, reportError } from '../cli/base.js';
import { runFlags } from '../cli/flags.js';
import { EXIT_CODES_HELP, UsageError } from '../core/errors.js';
import { readJournal, summarize } from '../core/journal.js';

/** `cookbook resume RUN`: continue a failed or interrupted run where it stopped. */
export default class Resume extends GalleyCommand {
  static override summary = 'Continue a failed or interrupted run from where it stopped.';
  static override description = `Runs the same cookbook with the same arguments. Steps the journal records as done are not re-applied; the others are observed afresh, planned, confirmed and applied. A later rollback undoes the actions of every attempt.\n\n${EXIT_CODES_HELP}`;
  static override examples = ['<%= config.bin %> resume 20261122-030916-ece4'];
  static override args = {
    run: Args.string({ description: 'run id (see `cookbook runs`)', required: true }),
  };
  static override flags = {
    yes: runFlags.yes,
    config: runFlags.config,
    'state-dir': runFlags['state-dir'],
    'on-failure': runFlags['on-failure'],
    locks: runFlags.locks,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Resume);
    let code: number;
    try {
      const { loadCookbook } = await import('../cli/catalog.js');
      const { runCookbook } = await import('../core/runner.js');
      const { cliContext, terminalRunOptions } = await import('../cli/context.js');
      const ctx = cliContext(flags);
      const s = summarize(readJournal(ctx.stateDir, args.run));
      if (!s) throw new UsageError(`run ${args.run} has no start record`);
      if (s.dryRun)
        throw new UsageError(`run ${args.run} was a dry-run: there is nothing to resume; run the cookbook`);
      if (s.outcome === 'done' || s.outcome === 'rolled-back')
        throw new UsageError(`run ${args.run} is ${s.outcome}: there is nothing to resume`);
      const result = await runCookbook({
        name: s.cookbook,
        cookbook: await loadCookbook(s.cookbook),
        rawArgs: s.args,
        dryRun: false,
        yes: flags.yes,
        onFailure: flags['on-failure'],
        task: s.task,
        reason: s.reason,
        noLocks: !flags.locks,
        ...terminalRunOptions(ctx),
        resumeRunId: args.run,
      });
      code = result.exitCode;
    } catch (e) {
      code = reportError(e);
    }
    if (code !== 0) this.exit(code);
  }
}
