import { Help } from '@oclif/core';
import { EXIT_CODES_HELP } from '../core/errors.js';

/**
 * oclif's help, extended. The package's cookbooks are commands (src/cli/commands.ts), so the
 * root help lists them and `cookbook NAME --help` is oclif's own; a cookbook found through
 * GALLEY_COOKBOOKS_PATH is not a command, and its help is rendered from its definition here.
 * The root help ends with how to run a cookbook and the exit codes.
 */
export default class GalleyHelp extends Help {
  override async showHelp(argv: string[]): Promise<void> {
    const id = argv.find((a) => !a.startsWith('-'));
    if (id && !this.config.findCommand(id) && !this.config.findTopic(id)) {
      // Loaded only here: the help of a command or a topic needs none of it.
      const { cookbookExists, loadCookbook } = await import('./catalog.js');
      if (cookbookExists(id)) {
        const { cookbookCommand } = await import('./cookbook-command.js');
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
    }
    return super.showHelp(argv);
  }

  protected override async showRootHelp(): Promise<void> {
    await super.showRootHelp();
    this.log(
      [
        'COOKBOOKS',
        '  The dotted commands above are cookbooks (`cookbook list` shows them as a tree);',
        '  `cookbook NAME --help` shows its arguments; `cookbook NAME ARGS…` runs it (add',
        '  --dry-run to see the plan first). `cookbook autocomplete` sets up shell completion.',
        '',
        EXIT_CODES_HELP,
      ].join('\n'),
    );
  }
}
