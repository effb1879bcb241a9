#!/usr/bin/env -S node --import tsx --no-warnings
// The CLI from the TypeScript sources. oclif.manifest.json (written by `npm run build` for the
// built CLI) is ignored here, so that help, the command list and completion describe the sources:
// the root plugin is loaded with ignoreManifest, and so the plugins it names (oclif.plugins).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Plugin, execute } from '@oclif/core';

// spicerack's habit: `cookbook -l` lists the cookbooks (as `cookbook list`).
const args = process.argv.slice(2);
if (args[0] === '-l' || args[0] === '--list') args[0] = 'list';
process.env.NODE_ENV = 'development'; // before the plugins load: oclif maps dist/ to the sources
// Run without tsx (`node bin/dev.js`), oclif falls back to dist/: src/cli/commands.ts must then
// give it whole commands, not the stand-ins it gives oclif when the manifest is in use.
globalThis[Symbol.for('galley.oclif.manifest-ignored')] = true;
const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const pjson = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'));
const main = new Plugin({ root, pjson, isRoot: true, ignoreManifest: true });
await main.load();
const plugins = new Map([[main.name, main]]);
for (const name of pjson.oclif.plugins ?? []) {
  const plugin = new Plugin({ name, root, type: 'core', parent: main });
  await plugin.load();
  plugins.set(plugin.name, plugin);
}
await execute({ development: true, args, loadOptions: { root, plugins } });
