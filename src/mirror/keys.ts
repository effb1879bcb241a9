import { isHiddenKey } from '../etcd/url.js';

/** Default keys never replicated: the lock state of python-etcd and the Runner's own locks. */
export const DEFAULT_IGNORE_REGEX = '^/(spicerack/locks/etcd|galley/locks)(/|$)';

/** Makes a prefix canonical: a leading slash, no trailing slash (`/` stays `/`). */
export function normalizePrefix(raw: string): string {
  let p = raw.trim();
  if (!p.startsWith('/')) p = `/${p}`;
  p = p.replace(/\/+/g, '/');
  while (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

/** Joins a prefix and a key that starts with `/`. */
export function joinKey(prefix: string, key: string): string {
  if (prefix === '/') return key === '' ? '/' : key;
  if (key === '/' || key === '') return prefix;
  return prefix + key;
}

/** True when `key` is `prefix` or below it. */
export function isUnder(key: string, prefix: string): boolean {
  return prefix === '/' || key === prefix || key.startsWith(`${prefix}/`);
}

/** The proper ancestors of a key, nearest last: `/a/b/c` → [`/`, `/a`, `/a/b`]. */
export function ancestorsOf(key: string): string[] {
  if (key === '/') return [];
  const out = ['/'];
  let i = key.indexOf('/', 1);
  while (i > 0) {
    out.push(key.slice(0, i));
    i = key.indexOf('/', i + 1);
  }
  return out;
}

/** True when a path part starts with `_`: etcd v2 hides such keys from listings and live watches. */
export const isHidden = isHiddenKey;

/** The destination key holding the last applied source index for a destination prefix. */
export function indexKeyFor(dstPrefix: string): string {
  return dstPrefix === '/' ? '/__replication/__ROOT__' : `/__replication${dstPrefix}`;
}

/** Why a source key is not replicated, or undefined when it is. */
export type SkipReason = 'outside-prefix' | 'hidden' | 'ignored';

/**
 * Maps source keys to destination keys: `--src-prefix`, `--dst-prefix`, `--strip`, and the keys
 * that are never replicated (outside the source prefix, hidden ones such as the source's own
 * `/__replication`, and those matching the ignore regex).
 */
export class KeyMapper {
  readonly srcPrefix: string;
  readonly dstPrefix: string;
  readonly strip: boolean;
  readonly ignore: RegExp | undefined;

  constructor(options: { srcPrefix: string; dstPrefix: string; strip: boolean; ignoreRegex?: string }) {
    this.srcPrefix = normalizePrefix(options.srcPrefix);
    this.dstPrefix = normalizePrefix(options.dstPrefix);
    this.strip = options.strip;
    this.ignore = options.ignoreRegex ? new RegExp(options.ignoreRegex) : undefined;
  }

  /** Where the source prefix lands in the destination: everything replicated is at or below it. */
  get dstBase(): string {
    return this.toDst(this.srcPrefix);
  }

  /** The destination index key. */
  get indexKey(): string {
    return indexKeyFor(this.dstPrefix);
  }

  /** Why a source key is skipped, or undefined when it is replicated. */
  skipReason(srcKey: string): SkipReason | undefined {
    if (!isUnder(srcKey, this.srcPrefix)) return 'outside-prefix';
    if (isHidden(srcKey)) return 'hidden';
    if (this.ignore?.test(srcKey)) return 'ignored';
    return undefined;
  }

  /** The destination key of a source key (which must be under the source prefix). */
  toDst(srcKey: string): string {
    const rel = this.strip ? (this.srcPrefix === '/' ? srcKey : srcKey.slice(this.srcPrefix.length)) : srcKey;
    return joinKey(this.dstPrefix, rel === '' ? '/' : rel);
  }

  /** The source key of a destination key under dstBase (the inverse of toDst). */
  toSrc(dstKey: string): string {
    const rel = this.dstPrefix === '/' ? dstKey : dstKey.slice(this.dstPrefix.length);
    const r = rel === '' ? '/' : rel;
    return this.strip ? joinKey(this.srcPrefix, r) : r;
  }
}
