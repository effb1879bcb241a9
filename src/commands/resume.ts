import { Args } from '@oclif/core';
import { GalleyCommand, reportError } from '../cli/base.js';
import { runFlags } from '../cli/flags.js';
import { EXIT_CODES_HELP } from '../core/errors.js';

/** `cookbook resume RUN`: continue a failed or interrupted run where it stopped. */
export default class Resume extends GalleyCommand {
  static override summary = 'Continue a failed or interrupted run from where it stopped.';
  static override description = `Runs the same cookbook with the same arguments. First the steps the journal records as done are observed again: if the world is no longer what the journal recorded (someone changed it by hand), resume refuses, shows the drift and changes nothing (exit 1). Undos journaled as failed are observed again too. Then the remaining steps are observed afresh, planned, confirmed and applied. A later rollback undoes the actions of every attempt.\n\n${EXIT_CODES_HELP}`;
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
      const { resumableRun } = await import('../core/session.js');
      const { cliContext, terminalRunOptions } = await import('../cli/context.js');
      const ctx = cliContext(flags);
      const s = resumableRun(ctx.stateDir, args.run).summary;
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
      await ctx.audit.flush(); // announcements still in flight (each bounded by its timeout)
    } catch (e) {
      code = reportError(e);
    }
    if (code !== 0) this.exit(code);
  }
}
