/**
 * The flags of `cookbook exec`, declared once. The oclif command (src/commands/exec.ts, for
 * `--help` and the command list) and the fast path that skips oclif's start-up
 * ({@link parseExecArgv} in ./exec.ts, which bin/run.js calls) are both built from this table.
 * Plain data: the fast path must not load oclif.
 */
export interface ExecFlagSpec {
  type: 'string' | 'boolean';
  char?: string;
  description: string;
  /** A boolean that also takes `--no-NAME`. */
  allowNo?: boolean;
  /** Environment variable read when the flag is not given. */
  env?: string;
}

export const EXEC_FLAGS = {
  config: {
    type: 'string',
    char: 'c',
    env: 'GALLEY_CONFIG',
    description: 'environment file (default: $GALLEY_CONFIG, then ~/.config/galley/config.yaml)',
  },
  'batch-size': {
    type: 'string',
    char: 'b',
    description:
      'hosts at once: a number or a percentage (10%); all by default. A batch waits for its slowest host',
  },
  'batch-sleep': { type: 'string', char: 's', description: 'pause between batches, with a unit (10s)' },
  'success-threshold': {
    type: 'string',
    char: 'p',
    description: 'fraction (0.9) or percentage (90%) of hosts that must succeed; default 100%',
  },
  timeout: {
    type: 'string',
    char: 't',
    description: 'timeout of the command on each host, with a unit (30s); default ssh.command_timeout',
  },
  fanout: {
    type: 'string',
    char: 'f',
    description:
      'SSH handshakes in flight at once (a new one starts as soon as one ends); default ssh.fanout, else a window that ' +
      'adapts to how fast the hosts complete handshakes (16 at first, 4 to 256). ' +
      "Each host's connect timeout counts from its own handshake",
  },
  json: { type: 'boolean', description: 'print the results as JSON' },
  'dry-run': {
    type: 'boolean',
    char: 'd',
    description: 'show what would run; ad-hoc commands are never sent in dry-run',
  },
  progress: {
    type: 'boolean',
    allowNo: true,
    description: 'show progress on stderr (default: only when stderr is a terminal)',
  },
} as const satisfies Record<string, ExecFlagSpec>;

export type ExecFlagName = keyof typeof EXEC_FLAGS;

/** Parsed flag values, by flag name (absent: not given). */
export type ExecFlagValues = {
  [K in ExecFlagName]?: (typeof EXEC_FLAGS)[K]['type'] extends 'boolean' ? boolean : string;
};
