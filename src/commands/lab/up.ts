import { Command, Flags } from '@oclif/core';
import { failWith, labFlags } from '../../lab/cli.js';
import { DEFAULT_BENCH_HOSTS, MAX_BENCH_HOSTS } from '../../lab/topology.js';

/** `cookbook lab up`: the lab of real servers on loopback. */
export default class LabUp extends Command {
  static override summary =
    'Bring up the lab: two etcd clusters as distinct hosts, the TLS proxy, gdnsd, knot and SSH, on loopback.';
  static override description =
    'Idempotent: a healthy lab is kept; a crashed one is cleaned up and started afresh. Needs root. Writes the environment file for the CLI and prints how to use it.';
  static override examples = [
    '<%= config.bin %> lab up',
    'GALLEY_LAB_DIR=/tmp/lab <%= config.bin %> lab up --base 127.30',
    '<%= config.bin %> lab up --bench-hosts 1000',
  ];
  static override flags = {
    ...labFlags,
    'bench-hosts': Flags.integer({
      min: 0,
      max: MAX_BENCH_HOSTS,
      default: DEFAULT_BENCH_HOSTS,
      summary: `Number of bench SSH hosts (bench001.lab.wmnet …, bench0001 … from 1,000), 250 per /24 from 127.N.9.x; one sshd serves 16 of them.`,
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(LabUp);
    try {
      const { labUp } = await import('../../lab/index.js');
      const r = await labUp({
        dir: flags.dir,
        base: flags.base,
        benchHosts: flags['bench-hosts'],
        log: (l) => this.logToStderr(l),
      });
      this.log(`lab ${r.reused ? 'already up' : 'up'} in ${r.seconds.toFixed(1)} s`);
      this.log(
        `environment file: ${r.configFile} (zone wmnet on gdnsd; ${r.rfc2136ConfigFile} has it on knot over RFC 2136)`,
      );
      this.log(`point the CLI at it:\n  export GALLEY_CONFIG=${r.configFile}`);
    } catch (e) {
      failWith(this, e);
    }
  }
}
