import { pathToFileURL } from 'node:url';
import { type Cookbook, editDistance, isCookbook } from '../core/cookbook.js';
import { ExitCode, GalleyError } from '../core/errors.js';
import { type CookbookEntry, listCookbookFiles } from './cookbook-files.js';

export { type CookbookEntry, cookbookRoots, listCookbookFiles, ownCookbookFiles } from './cookbook-files.js';

/** Thrown for an unknown cookbook name (exit 98), with the closest names. */
export class NoSuchCookbookError extends GalleyError {
  constructor(name: string, known: string[]) {
    const near = known
      .map((k) => ({
        k,
        d: Math.min(editDistance(name, k), editDistance(name, k.split('.').pop() ?? k) + 1),
      }))
      .filter((x) => x.d <= Math.max(3, Math.floor(name.length / 3)) || x.k.includes(name))
      .sort((a, b) => a.d - b.d)
      .slice(0, 3)
      .map((x) => x.k);
    super(`no cookbook or command named "${name}"`, {
      exitCode: ExitCode.NO_SUCH_COOKBOOK,
      suggestions: [
        ...(near.length ? [`did you mean ${near.join(', ')}?`] : []),
        '`cookbook list` shows every cookbook',
      ],
    });
  }
}

/** Imports a cookbook module and returns its default export. */
export async function loadCookbook(name: string): Promise<Cookbook> {
  const all = listCookbookFiles();
  const entry = all.find((e) => e.name === name);
  if (!entry)
    throw new NoSuchCookbookError(
      name,
      all.map((e) => e.name),
    );
  return loadCookbookFile(entry);
}

/** Imports one cookbook file and returns its default export (an error says what the file lacks). */
export async function loadCookbookFile(entry: CookbookEntry): Promise<Cookbook> {
  const mod = (await import(pathToFileURL(entry.file).href)) as { default?: unknown };
  if (!isCookbook(mod.default)) {
    throw new GalleyError(
      `${entry.file} does not export a cookbook: its default export must be defineCookbook({...})`,
      {
        exitCode: ExitCode.UNEXPECTED,
      },
    );
  }
  return mod.default;
}

export function cookbookExists(name: string): boolean {
  return listCookbookFiles().some((e) => e.name === name);
}
