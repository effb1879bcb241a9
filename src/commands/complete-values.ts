import { Command } from '@oclif/core';
import type { CompletableCommand } from '../cli/completion.js';

/**
 * `cookbook complete-values -- WORDS…`, hidden: what the shell completion of `cookbook
 * autocomplete` asks for the value being typed (src/cli/completion.ts). Prints the config's
 * datacenters, hosts or etcd clusters, one a line, when the last word is the value of a flag
 * or argument of that kind (exit 0; nothing when there is no readable config), else exits 1.
 */
export default class CompleteValues extends Command {
  static override hidden = true;
  static override summary = 'Values for shell completion (used by the scripts of `cookbook autocomplete`).';
  static override strict = false;
  static override usage = 'complete-values -- WORDS...';

  async run(): Promise<void> {
    await this.parse(CompleteValues);
    const words = this.argv[0] === '--' ? this.argv.slice(1) : this.argv;
    const { valueSlotAt, valuesOf } = await import('../cli/completion.js');
    const slot = valueSlotAt(words, (id) => this.config.findCommand(id) as CompletableCommand | undefined);
    if (!slot) this.exit(1);
    const { existsSync } = await import('node:fs');
    const { defaultConfigPaths, loadConfig } = await import('../config/load.js');
    const file = slot.config ?? process.env.GALLEY_CONFIG ?? defaultConfigPaths().find((p) => existsSync(p));
    if (!file) return;
    let values: string[];
    try {
      values = valuesOf(slot.kind, loadConfig(file));
    } catch {
      return; // a config that does not load completes to nothing (the run will say why)
    }
    if (values.length) process.stdout.write(`${values.join('\n')}\n`);
  }
}
