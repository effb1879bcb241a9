import { Command } from '@oclif/core';
import { failWith, labFlags } from '../../lab/cli.js';

/** `cookbook lab down`: stop everything the lab started. */
export default class LabDown extends Command {
  static override summary = 'Stop every process of the lab (by PID) and check that no listener is left.';
  static override examples = ['<%= config.bin %> lab down'];
  static override flags = labFlags;

  async run(): Promise<void> {
    const { flags } = await this.parse(LabDown);
    try {
      const { labDown } = await import('../../lab/index.js');
      const r = await labDown({ dir: flags.dir, base: flags.base });
      this.log(r.stopped ? `lab down: stopped ${r.stopped} processes` : 'lab down: nothing was running');
    } catch (e) {
      failWith(this, e);
    }
  }
}
