import { spawnSync } from 'node:child_process';
import { Args, Command } from '@oclif/core';
import { failWith, labFlags } from '../../lab/cli.js';

/** `cookbook lab operator HOST -- ARGS…`: the CLI run as one of the lab's operator hosts. */
export default class LabOperator extends Command {
  static override summary =
    "Run the cookbook CLI as one of the lab's operator hosts (its own hostname and state directory).";
  static override description =
    "The lab has two operator hosts, cumin1002.eqiad.wmnet and cumin2002.codfw.wmnet, each with its own environment file and state directory (journals, audit log) under the lab directory. The command runs in a UTS namespace whose hostname is that host's; runs are shared between the hosts through etcd (`runs` in the environment file), so a run started on one can be listed, resumed or rolled back on the other.";
  static override examples = [
    '<%= config.bin %> lab operator cumin1002 -- etcd.switchover --from codfw --to eqiad',
    '<%= config.bin %> lab operator cumin2002 -- runs',
  ];
  static override strict = false;
  static override flags = labFlags;
  static override args = {
    host: Args.string({
      required: true,
      description: 'operator host (cumin1002.eqiad.wmnet or a unique prefix)',
    }),
  };

  async run(): Promise<void> {
    const { args, flags, argv } = await this.parse(LabOperator);
    let code = 1;
    try {
      const { LabError } = await import('../../lab/errors.js');
      const { LabLayout, DEFAULT_LAB_DIR } = await import('../../lab/layout.js');
      const { OPERATOR_HOSTS, findOperatorHost, operatorArgv, operatorEnv } =
        await import('../../lab/operators.js');
      const host = findOperatorHost(args.host);
      if (!host)
        throw new LabError(`no operator host "${args.host}" in the lab; known: ${OPERATOR_HOSTS.join(', ')}`);
      const layout = new LabLayout(flags.dir ?? DEFAULT_LAB_DIR);
      const rest = (argv as string[]).slice(1).filter((a, i) => !(i === 0 && a === '--'));
      // The same CLI as this one (bin/run.js, or bin/dev.js under tsx), in the host's namespace.
      const [cmd, ...cmdArgs] = operatorArgv(host, [
        process.execPath,
        ...process.execArgv,
        process.argv[1]!,
        ...rest,
      ]);
      const r = spawnSync(cmd!, cmdArgs, {
        stdio: 'inherit',
        env: { ...process.env, ...operatorEnv(layout, host) },
      });
      code = r.status ?? 1;
    } catch (e) {
      failWith(this, e);
    }
    if (code !== 0) this.exit(code);
  }
}
