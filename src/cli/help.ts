import { Help } from '@oclif/core';
import { EXIT_CODES_HELP } from '../core/errors.js';
import { cookbookExists, loadCookbook } from './catalog.js';
import { cookbookCommand } from './cookbook-command.js';

/**
 * oclif's help, extended: `cookbook NAME --help` for a cookbook renders the help of the
 * command generated from its definition; the root help points at `cookbook list`.
 */
export default class GalleyHelp extends Help {
  override async showHelp(argv: string[]): Promise<void> {
    const id = argv.find((a) => !a.startsWith('-'));
    if (id && !this.config.findCommand(id) && !this.config.findTopic(id) && cookbookExists(id)) {
      const Cmd = cookbookCommand(id, await loadCookbook(id));
      await this.showCommandHelp({
        ...(Cmd as unknown as Record<string, unknown>),
        id,
        summary: Cmd.summary,
        description: Cmd.description,
        examples: Cmd.examples,
        flags: Object.fromEntries(Object.entries(Cmd.flags ?? {}).map(([n, f]) => [n, { ...f, name: n }])),
        args: Object.fromEntries(Object.entries(Cmd.args ?? {}).map(([n, a]) => [n, { ...a, name: n }])),
        aliases: [],
        hidden: false,
        pluginType: 'core',
        load: async () => Cmd,
      } as unknown as Parameters<Help['showCommandHelp']>[0]);
      return;
    }
    return super.showHelp(argv);
  }

  protected override async showRootHelp(): Promise<void> {
    await super.showRootHelp();
    this.log(
      [
        'COOKBOOKS',
        '  `cookbook list` shows every cookbook; `cookbook NAME --help` shows its arguments;',
        '  `cookbook NAME ARGS…` runs it (add --dry-run to see the plan first).',
        '',
        EXIT_CODES_HELP,
      ].join('\n'),
    );
  }
}
