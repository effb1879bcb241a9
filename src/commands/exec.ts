import { Args, Command, Flags } from '@oclif/core';

/** `cookbook exec HOSTS -- CMD…`: the cumin-like ad-hoc command. Thin: the work is in src/ssh/adhoc.ts. */
export default class Exec extends Command {
  static override summary = 'Run an ad-hoc command on a set of hosts over SSH';
  static override description = `HOSTS is a host set in ClusterShell syntax: conf200[4-6].codfw.wmnet, comma lists, ranges with leading zeros (bench[001-050].lab.wmnet) and aliases from the config (A:bench).
The command comes after --. One argument is a shell command line ('uptime; df -h'); several arguments are words, each quoted.
Output is grouped by identical output. The exit code is 0 when the success threshold is met, 1 when it is not, 2 for bad input.`;

  static override examples = [
    '<%= config.bin %> exec "conf200[4-6].codfw.wmnet" -- systemctl is-active etcd',
    '<%= config.bin %> exec A:bench --batch-size 10% --batch-sleep 5s --success-threshold 90% -- "uptime"',
    '<%= config.bin %> exec A:bench --json -- true',
  ];

  static override usage = 'exec HOSTS [flags] -- CMD...';

  static override strict = false;

  static override args = {
    hosts: Args.string({ description: 'host set (ClusterShell syntax or A:alias)', required: true }),
  };

  static override flags = {
    config: Flags.string({
      char: 'c',
      description: 'environment file (default: $GALLEY_CONFIG, then ~/.config/galley/config.yaml)',
      env: 'GALLEY_CONFIG',
    }),
    'batch-size': Flags.string({
      char: 'b',
      description: 'hosts at once: a number or a percentage (10%); all by default',
    }),
    'batch-sleep': Flags.string({ char: 's', description: 'pause between batches, with a unit (10s)' }),
    'success-threshold': Flags.string({
      char: 'p',
      description: 'fraction (0.9) or percentage (90%) of hosts that must succeed; default 100%',
    }),
    timeout: Flags.string({
      char: 't',
      description: 'timeout of the command on each host, with a unit (30s); default ssh.command_timeout',
    }),
    json: Flags.boolean({ description: 'print the results as JSON' }),
    'dry-run': Flags.boolean({
      char: 'd',
      description: 'show what would run; ad-hoc commands are never sent in dry-run',
    }),
    progress: Flags.boolean({
      description: 'show progress on stderr (default: only when stderr is a terminal)',
      allowNo: true,
    }),
  };

  async run(): Promise<void> {
    const { args, argv, flags } = await this.parse(Exec);
    const command = (argv as string[]).slice(1);
    // Loaded here, not at start-up (oclif imports every command to list them).
    const { defaultConfigPaths } = await import('../config/load.js');
    const { runAdHoc } = await import('../ssh/adhoc.js');
    const code = await runAdHoc(
      {
        hosts: args.hosts,
        command,
        configPath: flags.config,
        batchSize: flags['batch-size'],
        batchSleep: flags['batch-sleep'],
        successThreshold: flags['success-threshold'],
        timeout: flags.timeout,
        json: flags.json,
        dryRun: flags['dry-run'],
        progress: flags.progress,
      },
      {
        stdout: (t) => process.stdout.write(t),
        stderr: (t) => process.stderr.write(t),
        stderrIsTty: process.stderr.isTTY === true,
        defaultConfigPath: () => defaultConfigPaths()[0],
      },
    );
    if (code !== 0) this.exit(code);
  }
}
