import { spawnSync } from 'node:child_process';
import { Args, Command } from '@oclif/core';
import { failWith, labFlags } from '../../lab/cli.js';

/** `cookbook lab ssh HOST [-- CMD]`: the system ssh, with the lab's key and known_hosts. */
export default class LabSsh extends Command {
  static override summary =
    "Open a shell on a lab host, or run a command there, with the lab's SSH key and known_hosts.";
  static override examples = [
    '<%= config.bin %> lab ssh conf1007.eqiad.wmnet',
    '<%= config.bin %> lab ssh conf2004 -- systemctl status etcd',
  ];
  static override strict = false;
  static override flags = labFlags;
  static override args = {
    host: Args.string({ required: true, description: 'host name (or a unique prefix such as conf1007)' }),
  };

  async run(): Promise<void> {
    const { args, flags, argv } = await this.parse(LabSsh);
    let code = 1;
    try {
      const { labStatus } = await import('../../lab/index.js');
      const { findLabHost, sshArgs } = await import('../../lab/ssh.js');
      const status = labStatus({ dir: flags.dir, base: flags.base });
      const host = findLabHost(status, args.host);
      const command = (argv as string[]).slice(1).filter((a, i) => !(i === 0 && a === '--'));
      const r = spawnSync('ssh', sshArgs(status, host, command), { stdio: 'inherit' });
      code = r.status ?? 255;
    } catch (e) {
      failWith(this, e);
    }
    if (code !== 0) this.exit(code);
  }
}
