/**
 * Every command of the CLI, for oclif's explicit command discovery (package.json:
 * `oclif.commands = {strategy: 'explicit', target: './dist/src/cli/commands.js', identifier: 'commands'}`):
 * the built-in commands and one command per cookbook of the package, by oclif id.
 *
 * Two ways to load them:
 * - With a manifest (the build: `npm run build` writes oclif.manifest.json), oclif lists
 *   commands, renders help and generates completion from the manifest, and needs a command's
 *   class only to run it. Each entry is then a stand-in that imports its command, or its
 *   cookbook, when it runs: start-up imports one command, not all of them.
 * - Without one (the sources under tsx, and while the manifest is being written), oclif reads
 *   every command's metadata from its class, so every command and cookbook is imported here.
 *
 * Cookbooks found through GALLEY_COOKBOOKS_PATH are not part of the package and are not here:
 * the command_not_found hook (cookbook-dispatch.ts) runs them.
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from '@oclif/core';
import { BUILTIN_COMMANDS } from './builtin-commands.js';
import { type CookbookEntry, ownCookbookFiles } from './cookbook-files.js';

const fromSource = import.meta.url.endsWith('.ts');
/** The package root: src/cli/ under tsx, dist/src/cli/ in the build. */
const packageRoot = fileURLToPath(new URL(fromSource ? '../../' : '../../../', import.meta.url));

/** Set by bin/dev.js, which loads the root plugin with ignoreManifest (even when it falls back to dist/). */
const MANIFEST_IGNORED = Symbol.for('galley.oclif.manifest-ignored');

/**
 * Whether oclif reads this package's commands from oclif.manifest.json: the build's manifest
 * exists and is of this version (oclif ignores one of another version), and the entry point does
 * not ignore it. Never under tsx: bin/dev.js ignores the manifest, so that it describes the sources.
 */
function manifestInUse(): boolean {
  if (fromSource || (globalThis as Record<symbol, unknown>)[MANIFEST_IGNORED] === true) return false;
  try {
    const version = (file: string) =>
      String((JSON.parse(readFileSync(join(packageRoot, file), 'utf8')) as { version?: unknown }).version);
    return version('oclif.manifest.json').split('-')[0] === version('package.json').split('-')[0];
  } catch {
    return false;
  }
}

/**
 * A stand-in for a command whose class is imported when it runs: oclif calls only the static
 * `run` of a command it found in the manifest (help and listing come from the manifest).
 */
export function lazyCommand(id: string, load: () => Promise<Command.Class>): Command.Class {
  class LazyCommand extends Command {
    static override id = id;
    async run(): Promise<void> {
      throw new Error(`${id}: a lazy command is run through its static run()`);
    }
  }
  const run = async function (
    this: Command.Class,
    argv?: string[],
    opts?: Parameters<Command.Class['run']>[1],
  ) {
    const Real = await load();
    Real.id = id;
    Real.plugin = this.plugin;
    return Real.run(argv, opts);
  };
  Object.defineProperty(LazyCommand, 'run', { value: run, writable: true, configurable: true });
  return LazyCommand as unknown as Command.Class;
}

/** The cookbook's command, its file relative to the package root (kept in the manifest). */
async function cookbookClass(entry: CookbookEntry): Promise<Command.Class> {
  // Imported here: with a manifest, a start-up that runs no cookbook needs neither.
  const [{ loadCookbookFile }, { cookbookCommand }] = await Promise.all([
    import('./catalog.js'),
    import('./cookbook-command.js'),
  ]);
  return cookbookCommand(entry.name, await loadCookbookFile(entry), relative(packageRoot, entry.file));
}

/** Cookbooks that could not be imported (without a manifest), by name: `npm run build` fails on any. */
export const cookbookLoadErrors: Record<string, unknown> = {};

async function loadAll(): Promise<Record<string, Command.Class>> {
  const out: Record<string, Command.Class> = {};
  const builtins = await Promise.all(
    Object.entries(BUILTIN_COMMANDS).map(async ([id, load]) => [id, (await load()).default] as const),
  );
  for (const [id, Cmd] of builtins) out[id] = Cmd;
  for (const entry of ownCookbookFiles()) {
    try {
      out[entry.name] = await cookbookClass(entry);
    } catch (e) {
      // One broken cookbook must not take the whole CLI down: running it by name reports why.
      cookbookLoadErrors[entry.name] = e;
    }
  }
  return out;
}

function lazyAll(): Record<string, Command.Class> {
  const out: Record<string, Command.Class> = {};
  for (const [id, load] of Object.entries(BUILTIN_COMMANDS))
    out[id] = lazyCommand(id, async () => (await load()).default);
  for (const entry of ownCookbookFiles())
    out[entry.name] = lazyCommand(entry.name, () => cookbookClass(entry));
  return out;
}

/** The commands by oclif id (the `identifier` oclif reads). */
export const commands: Record<string, Command.Class> = manifestInUse() ? lazyAll() : await loadAll();
