import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Cookbook, editDistance, isCookbook } from '../core/cookbook.js';
import { ExitCode, GalleyError } from '../core/errors.js';

/** Running from TypeScript sources (bin/dev.js, jest) or from the build (bin/run.js). */
const fromSource = import.meta.url.endsWith('.ts');

/** The directories cookbooks are read from: the project's, then GALLEY_COOKBOOKS_PATH (colon-separated). */
export function cookbookRoots(): string[] {
  const own = fileURLToPath(new URL('../../cookbooks/', import.meta.url));
  const extra = (process.env.GALLEY_COOKBOOKS_PATH ?? '').split(':').filter(Boolean);
  return [own, ...extra];
}

export interface CookbookEntry {
  /** Dotted name: cookbooks/etcd/switchover.ts is etcd.switchover. */
  name: string;
  file: string;
}

function walk(dir: string, root: string, out: CookbookEntry[]): void {
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) {
      if (!f.startsWith('_') && !f.startsWith('.')) walk(p, root, out);
      continue;
    }
    const ext = ['.ts', '.js', '.mjs'].find((e) => f.endsWith(e));
    if (
      !ext ||
      (ext === '.ts' && !fromSource) ||
      f.endsWith('.d.ts') ||
      f.startsWith('_') ||
      f.includes('.test.')
    )
      continue;
    const base = f.slice(0, -ext.length);
    const name = relative(root, join(dir, base)).split(sep).join('.');
    if (!out.some((e) => e.name === name)) out.push({ name, file: p });
  }
}

/** Every cookbook file, by dotted name (the project's first; a name is taken once). */
export function listCookbookFiles(): CookbookEntry[] {
  const out: CookbookEntry[] = [];
  for (const root of cookbookRoots()) if (existsSync(root)) walk(root, root, out);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

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
