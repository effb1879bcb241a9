import { Flags } from '@oclif/core';
import { GalleyCommand } from '../cli/base.js';
import { listCookbookFiles, loadCookbook } from '../cli/catalog.js';

/** `cookbook list`: the cookbooks as a tree with their titles. */
export default class List extends GalleyCommand {
  static override summary = 'List the cookbooks as a tree, with their titles.';
  static override examples = ['<%= config.bin %> list', '<%= config.bin %> list --json'];
  static override flags = { json: Flags.boolean({ summary: 'Print [{name, title, file}] as JSON.' }) };

  async run(): Promise<void> {
    const { flags } = await this.parse(List);
    const entries = await Promise.all(
      listCookbookFiles().map(async (e) => ({
        name: e.name,
        title: (await loadCookbook(e.name)).title,
        file: e.file,
      })),
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
