import { Flags } from '@oclif/core';

/** Flags of every cookbook run (and of resume/rollback where they apply). */
export const runFlags = {
  'dry-run': Flags.boolean({
    char: 'd',
    summary: 'Observe and print the whole plan; change nothing, anywhere.',
    helpGroup: 'RUN',
  }),
  yes: Flags.boolean({
    char: 'y',
    summary: 'Non-interactive: take every step without asking (irreversible ones included).',
    helpGroup: 'RUN',
  }),
  config: Flags.string({
    char: 'c',
    env: 'GALLEY_CONFIG',
    summary: 'Environment file (YAML). Default: ~/.config/galley/config.yaml.',
    helpGroup: 'RUN',
  }),
  task: Flags.string({
    char: 't',
    summary: 'Task id (e.g. T358636), recorded in the audit log and the journal.',
    helpGroup: 'RUN',
  }),
  reason: Flags.string({
    char: 'r',
    summary: 'Why you run this, recorded in the audit log and the journal.',
    helpGroup: 'RUN',
  }),
  locks: Flags.boolean({
    default: true,
    allowNo: true,
    summary: "Take the cookbook's lock (--no-locks skips it: only if you know why).",
    helpGroup: 'RUN',
  }),
  'plan-out': Flags.string({
    summary: 'Write the plan to FILE.md (for a reviewer) and FILE.json (for --plan); implies --dry-run.',
    helpValue: 'FILE',
    helpGroup: 'RUN',
  }),
  plan: Flags.string({
    summary: 'Run only if the freshly observed plan matches this reviewed plan (.json).',
    helpValue: 'FILE',
    helpGroup: 'RUN',
    exclusive: ['plan-out', 'dry-run'],
  }),
  'on-failure': Flags.option({
    options: ['rollback', 'abort'] as const,
    summary: 'What a run with --yes does on a failure (default: rollback).',
    helpGroup: 'RUN',
  })(),
  'state-dir': Flags.string({
    env: 'GALLEY_STATE_DIR',
    summary: 'Where journals, locks and the audit log live. Default: $XDG_STATE_HOME/galley.',
    helpGroup: 'RUN',
  }),
  json: Flags.boolean({
    summary: 'Print the result as JSON on stdout (progress goes to stderr).',
    helpGroup: 'RUN',
  }),
};
