import type { Command } from '@oclif/core';

type CommandModule = Promise<{ default: Command.Class }>;

/**
 * The built-in commands by oclif id (a space on the command line is a colon here), each imported
 * when needed (see ./commands.ts). A command added to src/commands must be added here too (a unit
 * test checks it).
 */
export const BUILTIN_COMMANDS: Record<string, () => CommandModule> = {
  'complete-values': () => import('../commands/complete-values.js'),
  exec: () => import('../commands/exec.js'),
  'lab:down': () => import('../commands/lab/down.js'),
  'lab:operator': () => import('../commands/lab/operator.js'),
  'lab:reimage': () => import('../commands/lab/reimage.js'),
  'lab:ssh': () => import('../commands/lab/ssh.js'),
  'lab:status': () => import('../commands/lab/status.js'),
  'lab:up': () => import('../commands/lab/up.js'),
  list: () => import('../commands/list.js'),
  mirror: () => import('../commands/mirror.js'),
  'plan:approve': () => import('../commands/plan/approve.js'),
  'plan:show': () => import('../commands/plan/show.js'),
  resume: () => import('../commands/resume.js'),
  rollback: () => import('../commands/rollback.js'),
  runs: () => import('../commands/runs.js'),
};
