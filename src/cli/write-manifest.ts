/**
 * `npm run build`'s last step: writes oclif.manifest.json at the package root, as `oclif
 * manifest` (the oclif dev tool) does, without that tool's dependencies. With it, the built CLI
 * lists commands and renders help without importing them (see ./commands.ts); `npm pack` ships it.
 * Fails when a cookbook cannot be imported, rather than leave it out of the manifest.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Plugin } from '@oclif/core';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const file = join(root, 'oclif.manifest.json');
// The old manifest goes first: while it exists, ./commands.ts hands out stand-ins without metadata.
rmSync(file, { force: true });
const plugin = new Plugin({
  root,
  type: 'core',
  isRoot: true,
  ignoreManifest: true,
  errorOnManifestCreate: true,
  respectNoCacheDefault: true,
});
await plugin.load();
const { cookbookLoadErrors } = await import('./commands.js');
const broken = Object.entries(cookbookLoadErrors);
if (broken.length) {
  for (const [name, e] of broken) process.stderr.write(`write-manifest: cookbook ${name}: ${String(e)}\n`);
  process.exit(1);
}
writeFileSync(file, `${JSON.stringify(plugin.manifest, null, 2)}\n`);
process.stderr.write(`wrote ${file} (${Object.keys(plugin.manifest.commands).length} commands)\n`);
