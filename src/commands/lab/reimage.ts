import { Args, Command } from '@oclif/core';
import { failWith, labFlags } from '../../lab/cli.js';

/** `cookbook lab reimage HOST`: the lab's stand-in for the site's reimage cookbook (etcd.reimage runs it). */
export default class LabReimage extends Command {
  static override summary =
    'Reimage a conf host of the lab: stop its services, wipe its state and data, give it a new SSH host key (published in the trusted source), bring sshd back.';
  static override description =
    "What the site's reimage cookbook does to a host, in the lab: every service of the host is stopped, etcd's data, the logs, /run and /srv are wiped, /etc/default/etcd is written as configuration management would (ETCD_INITIAL_CLUSTER_STATE=\"existing\"), a new SSH host key is made and published in the lab's trusted source of host keys (ssh.host_key_source), and the host comes back with its sshd and its proxy; etcd stays stopped until the member is added back. Irreversible. Needs root.";
  static override examples = ['<%= config.bin %> lab reimage conf2004.codfw.wmnet'];
  static override flags = labFlags;
  static override args = { host: Args.string({ description: 'the conf host to reimage', required: true }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(LabReimage);
    try {
      const { resolveLabOptions } = await import('../../lab/index.js');
      const { reimageLabHost } = await import('../../lab/reimage.js');
      const { LabError } = await import('../../lab/errors.js');
      if (process.getuid?.() !== 0)
        throw new LabError('reimaging a lab host needs root', [
          'run it as root: sudo -E cookbook lab reimage HOST',
        ]);
      const { withLabLock } = await import('../../lab/state.js');
      const { LabLayout } = await import('../../lab/layout.js');
      const dir = resolveLabOptions({ dir: flags.dir, base: flags.base }).dir;
      // Never while `lab up` or `lab down` works on the same lab.
      const r = await withLabLock(new LabLayout(dir), () =>
        reimageLabHost({ dir, host: args.host, log: (l) => this.logToStderr(l) }),
      );
      this.log(`${r.host} reimaged in ${r.seconds.toFixed(1)} s; new host key ${r.fingerprint}`);
    } catch (e) {
      failWith(this, e);
    }
  }
}
