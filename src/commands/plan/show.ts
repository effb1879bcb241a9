import { Args, Flags } from '@oclif/core';
import { GalleyCommand, reportError } from '../../cli/base.js';

/** `cookbook plan show FILE.json`: the plan for a reviewer, with its approval. */
export default class PlanShow extends GalleyCommand {
  static override summary =
    'Show a plan for review: every step, action and change, and whether (and by whom) it is approved.';
  static override examples = [
    '<%= config.bin %> plan show switch.json',
    '<%= config.bin %> plan show switch.json --json',
  ];
  static override args = {
    file: Args.string({ description: 'the plan (.json, or the .md next to it)', required: true }),
  };
  static override flags = {
    json: Flags.boolean({ summary: 'Print the plan and its approval status as JSON.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(PlanShow);
    try {
      const { planMarkdown, readPlan } = await import('../../core/plan.js');
      const { approvalMarkdown, approvalStatus } = await import('../../core/review.js');
      const plan = readPlan(args.file);
      if (flags.json) this.log(JSON.stringify({ plan, approval: approvalStatus(plan) }, null, 2));
      else this.log(`${planMarkdown(plan)}\n${approvalMarkdown(plan)}`);
    } catch (e) {
      this.exit(reportError(e));
    }
  }
}
