import { Args, Flags } from '@oclif/core';
import { GalleyCommand, reportError } from '../../cli/base.js';

/** `cookbook plan approve FILE.json`: the second person's approval, recorded in the plan. */
export default class PlanApprove extends GalleyCommand {
  static override summary =
    'Approve a reviewed plan: record in FILE.json who approved it, when, and its fingerprint.';
  static override description =
    "Run by the reviewer after reading the plan (FILE.md, or `cookbook plan show FILE.json`). With `review: required` in the environment file, a live run of that cookbook needs `--plan FILE.json` approved by a user other than the one running it. The approval is bound to the plan's content: a plan edited afterwards loses it. The approver is the user behind sudo (SUDO_USER), else USER.";
  static override examples = [
    '<%= config.bin %> plan approve switch.json',
    '<%= config.bin %> plan show switch.json',
  ];
  static override args = {
    file: Args.string({ description: 'the plan (.json, or the .md next to it)', required: true }),
  };
  static override flags = { json: Flags.boolean({ summary: 'Print the approval as JSON.' }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(PlanApprove);
    try {
      const { existsSync, writeFileSync } = await import('node:fs');
      const { planMarkdown, readPlan } = await import('../../core/plan.js');
      const { approvePlan, approvalMarkdown } = await import('../../core/review.js');
      const file = args.file.endsWith('.md') ? `${args.file.slice(0, -3)}.json` : args.file;
      const approved = approvePlan(readPlan(file));
      writeFileSync(file, `${JSON.stringify(approved, null, 2)}\n`);
      const md = file.replace(/\.json$/, '.md');
      if (md !== file && existsSync(md))
        writeFileSync(md, `${planMarkdown(approved)}\n${approvalMarkdown(approved)}\n`);
      const a = approved.approval!;
      if (flags.json) this.log(JSON.stringify({ file, cookbook: approved.cookbook, approval: a }, null, 2));
      else
        this.log(
          `✓ ${file} (${approved.cookbook}) approved by ${a.by} at ${a.at}; fingerprint ${a.fingerprint.slice(0, 12)}`,
        );
    } catch (e) {
      this.exit(reportError(e));
    }
  }
}
