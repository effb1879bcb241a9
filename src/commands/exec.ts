import { Args, Command, Flags } from '@oclif/core';
import { EXEC_FLAGS } from '../cli/exec-flags.js';

/** oclif flags made from the one table of `exec` flags (src/cli/exec-flags.ts). */
const flags = Object.fromEntries(
  Object.entries(EXEC_FLAGS).map(([name, f]) => {
    const common = { description: f.description, ...('char' in f ? { char: f.char as 'c' } : {}) };
    if (f.type === 'boolean')
      return [name, Flags.boolean({ ...common, ...('allowNo' in f ? { allowNo: f.allowNo } : {}) })];
    return [name, Flags.string({ ...common, ...('env' in f ? { env: f.env } : {}) })];
  }),
);

/** `cookbook exec HOSTS -- CMD…`: the cumin-like ad-hoc command. Thin: the work is in src/cli/exec.ts. */
export default class Exec extends Command {
  static override summary = 'Run an ad-hoc command on a set of hosts over SSH';
  static override description = `HOSTS is a host set in ClusterShell syntax: conf200[4-6].codfw.wmnet, comma lists, ranges with leading zeros (bench[001-050].lab.wmnet) and aliases from the config (A:bench).
The command comes after --. One argument is a shell command line ('uptime; df -h'); several arguments are words, each quoted.
New connections go through a fan-out window: at most --fanout SSH handshakes in flight, a new one starting as soon as one ends; each host's connect timeout (ssh.connect_timeout) counts from its own handshake, and a refused or reset connection is retried with backoff. Batches (-b, -s, -p) keep their meaning on top of it.
Output is grouped by identical output. The exit code is 0 when the success threshold is met, 1 when it is not, 2 for bad input.`;

  static override examples = [
    '<%= config.bin %> exec "conf200[4-6].codfw.wmnet" -- systemctl is-active etcd',
    '<%= config.bin %> exec A:bench --batch-size 10% --batch-sleep 5s --success-threshold 90% -- "uptime"',
    '<%= config.bin %> exec A:bench --fanout 64 --json -- true',
  ];

  static override usage = 'exec HOSTS [flags] -- CMD...';

  static override strict = false;

  static override args = {
    hosts: Args.string({ description: 'host set (ClusterShell syntax or A:alias)', required: true }),
  };

  static override flags = flags;

  async run(): Promise<void> {
    await this.parse(Exec);
    // Loaded here, not at start-up (oclif imports every command to list them).
    const { parseExecArgv, processIo, runAdHoc } = await import('../cli/exec.js');
    // The fast path's parser, on the raw arguments: oclif's non-strict argv does not keep the
    // order of the words after `--` (`-- echo --json` came back as `--json echo`).
    const request = parseExecArgv(this.argv);
    const code = await runAdHoc(request, processIo());
    if (code !== 0) this.exit(code);
  }
}
