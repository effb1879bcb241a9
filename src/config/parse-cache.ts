/**
 * A cache of parsed environment files. A fleet's file lists every host: at 1,000 hosts it is
 * about 100 KB of YAML, and parsing it in a fresh process costs about 250 ms (the YAML parser is
 * not yet compiled by V8), a quarter of a `cookbook exec` on 50 hosts. The cache keeps the parsed
 * document as JSON, which a fresh process reads in about 2 ms, keyed by the SHA-256 of the file's
 * text: a changed file is parsed again, whatever its mtime. Only the parse is cached; the
 * document is validated on every load, as before.
 *
 * It lives under $XDG_CACHE_HOME/galley (else ~/.cache/galley), one file per config path.
 * Small files (under {@link CACHE_MIN_BYTES}) are not cached: they parse in a few ms.
 * GALLEY_CONFIG_CACHE=0 turns it off. A cache that cannot be read or written is ignored: the
 * file is parsed as if there were none.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

/** Files smaller than this are parsed every time. */
export const CACHE_MIN_BYTES = 16 * 1024;

/** Where the cache of the config at `file` (an absolute path) lives, or undefined when it is off. */
export function parseCacheFile(file: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.GALLEY_CONFIG_CACHE === '0') return undefined;
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  const name = createHash('sha256').update(file).digest('hex').slice(0, 32);
  return join(base, 'galley', 'config', `${name}.json`);
}

interface CacheEntry {
  /** SHA-256 of the text the document was parsed from. */
  sha256: string;
  document: unknown;
}

/**
 * Parses `text` (the contents of `file`) with `parse`, through the cache: a cached document is
 * used when its text's SHA-256 matches; otherwise the text is parsed and the result stored, if
 * JSON holds it without loss (YAML's .inf or .nan, say, would not be stored).
 */
export function parseThroughCache(
  file: string,
  text: string,
  parse: (text: string) => unknown,
  env: NodeJS.ProcessEnv = process.env,
): unknown {
  const cacheFile = Buffer.byteLength(text) >= CACHE_MIN_BYTES ? parseCacheFile(file, env) : undefined;
  if (!cacheFile) return parse(text);
  const sha256 = createHash('sha256').update(text).digest('hex');
  try {
    const entry = JSON.parse(readFileSync(cacheFile, 'utf8')) as CacheEntry;
    if (entry && entry.sha256 === sha256) return entry.document;
  } catch {
    // no cache yet, or one we cannot read: parse
  }
  const document = parse(text);
  try {
    const json = JSON.stringify({ sha256, document } satisfies CacheEntry);
    if (!isDeepStrictEqual((JSON.parse(json) as CacheEntry).document, document)) return document;
    mkdirSync(dirname(cacheFile), { recursive: true, mode: 0o700 });
    // Written aside and renamed: a concurrent reader sees the old entry or the new one, whole.
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    writeFileSync(tmp, json, { mode: 0o600 });
    renameSync(tmp, cacheFile);
  } catch {
    // a cache we cannot write: the next run parses again
  }
  return document;
}
