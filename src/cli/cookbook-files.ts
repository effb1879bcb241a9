/**
 * Where cookbooks are: the package's own cookbooks/ and GALLEY_COOKBOOKS_PATH, by dotted name.
 * Only node:fs here: the CLI's command table (./commands.ts) lists the cookbooks at every start.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** The project's own cookbooks (those of the package: oclif commands, in its manifest). */
export function ownCookbookFiles(): CookbookEntry[] {
  const out: CookbookEntry[] = [];
  const [own] = cookbookRoots();
  if (own && existsSync(own)) walk(own, own, out);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
