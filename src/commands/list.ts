import { resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { GalleyCommand } from '../cli/base.js';
import { listCookbookFiles, loadCookbookFile } from '../cli/catalog.js';

/** `cookbook list`: the cookbooks as a tree with their titles. */
export default class List extends GalleyCommand {
  static override summary = 'List the cookbooks as a tree, with their titles.';
  static override examples = ['<%= config.bin %> list', '<%= config.bin %> list --json'];
  static override flags = { json: Flags.boolean({ summary: 'Print [{name, title, file}] as JSON.' }) };

  async run(): Promise<void> {
    const { flags } = await this.parse(List);
    // The package's cookbooks are commands: their titles and files come from oclif's manifest,
    // without importing them. Those of GALLEY_COOKBOOKS_PATH are imported for their titles.
    const known = new Map<string, { name: string; title: string; file: string }>();
    for (const c of this.config.commands) {
      const meta = c.galleyCookbook as { file?: string } | undefined;
      if (meta?.file)
        known.set(c.id, { name: c.id, title: c.summary ?? '', file: resolve(this.config.root, meta.file) });
    }
    const entries = await Promise.all(
      listCookbookFiles().map(
        async (e) =>
          known.get(e.name) ?? { name: e.name, title: (await loadCookbookFile(e)).title, file: e.file },
      ),
    );
    if (flags.json) {
      this.log(JSON.stringify(entries, null, 2));
      return;
    }
    let lastGroup: string[] = [];
    for (const e of entries) {
      const parts = e.name.split('.');
      const group = parts.slice(0, -1);
      let common = 0;
      while (common < group.length && group[common] === lastGroup[common]) common++;
      for (let i = common; i < group.length; i++) this.log(`${'  '.repeat(i)}${group[i]}`);
      lastGroup = group;
      const label = `${'  '.repeat(group.length)}${parts[parts.length - 1]}`;
      this.log(`${label.padEnd(28)} ${e.title}`);
    }
  }
}
