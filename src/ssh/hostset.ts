import { HostSetError } from './errors.js';

/** What a host set is resolved against: the inventory's host names and the config's aliases. */
export interface HostInventory {
  hosts: Record<string, unknown>;
  aliases: Record<string, string>;
}

/** Expansion stops here: a typo such as `[1-1000000]` must not eat the machine. */
const MAX_HOSTS = 100_000;
const HOST_CHARS = /^[A-Za-z0-9][A-Za-z0-9.-]*$/;
const ALIAS_NAME = /^[A-Za-z0-9_.-]+$/;

/** Splits on `sep` outside brackets, reporting unbalanced brackets. */
function splitTopLevel(expr: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of expr) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (depth < 0 || depth > 1)
      throw new HostSetError(`bad host set "${expr}": unbalanced or nested brackets`);
    if (ch === sep && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  if (depth !== 0) throw new HostSetError(`bad host set "${expr}": a "[" is never closed`);
  parts.push(current);
  return parts;
}

/** Expands the inside of one bracket group (`001-050`, `1,3-5`) into zero-padded strings. */
function expandRangeList(body: string, pattern: string): string[] {
  const out: string[] = [];
  for (const item of body.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(item.trim());
    if (!m) {
      throw new HostSetError(
        `bad range "[${body}]" in "${pattern}": use numbers and ranges such as [1,3-5] or [001-050]`,
      );
    }
    const startText = m[1] ?? '';
    const start = Number(startText);
    const end = m[2] === undefined ? start : Number(m[2]);
    if (end < start)
      throw new HostSetError(`bad range "${item}" in "${pattern}": the end is before the start`);
    if (end - start + out.length >= MAX_HOSTS)
      throw new HostSetError(`range "${item}" in "${pattern}" is too large`);
    // Leading zeros set the width, as in ClusterShell: [001-050] gives 001 … 050, [1-10] gives 1 … 10.
    const width = startText.length > 1 && startText.startsWith('0') ? startText.length : 0;
    for (let n = start; n <= end; n++) out.push(String(n).padStart(width, '0'));
  }
  return out;
}

/** Expands one pattern without commas at the top level (`conf200[4-6].codfw.wmnet`) into names. */
export function expandPattern(pattern: string): string[] {
  let names = [''];
  const re = /\[([^\]]*)\]|([^[\]]+)/g;
  let consumed = 0;
  for (const m of pattern.matchAll(re)) {
    consumed += m[0].length;
    const parts = m[1] !== undefined ? expandRangeList(m[1], pattern) : [m[2] ?? ''];
    if (names.length * parts.length > MAX_HOSTS)
      throw new HostSetError(`host set "${pattern}" expands to too many hosts`);
    names = names.flatMap((prefix) => parts.map((p) => prefix + p));
  }
  if (consumed !== pattern.length) throw new HostSetError(`bad host set "${pattern}": unbalanced brackets`);
  for (const name of names) {
    if (!HOST_CHARS.test(name)) {
      throw new HostSetError(
        `bad host name "${name}" in "${pattern}": host names contain only letters, digits, dots and dashes, and start with a letter or digit`,
      );
    }
  }
  return names;
}

/** Levenshtein distance, for "did you mean" suggestions. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const old = row[j] ?? 0;
      row[j] = Math.min(old + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = old;
    }
  }
  return row[b.length] ?? 0;
}

/** Up to `limit` known names closest to `name` (by edit distance, then by shared prefix). */
export function closeNames(name: string, known: string[], limit = 3): string[] {
  const maxDistance = Math.max(2, Math.floor(name.length / 4));
  return known
    .map((k) => ({ k, d: distance(name, k) }))
    .filter(({ d }) => d <= maxDistance)
    .sort((x, y) => x.d - y.d || x.k.localeCompare(y.k))
    .slice(0, limit)
    .map(({ k }) => k);
}

/**
 * Expands a host set in ClusterShell syntax into host names, without checking them against
 * the inventory: comma lists, bracket ranges with leading zeros, and `A:alias` references
 * resolved recursively (a cycle is an error naming the chain). Order is kept, duplicates dropped.
 */
export function expandHostSet(
  expr: string,
  aliases: Record<string, string>,
  aliasChain: string[] = [],
): string[] {
  const trimmed = expr.trim();
  if (trimmed === '')
    throw new HostSetError(
      'empty host set: give host names such as conf200[4-6].codfw.wmnet or an alias such as A:bench',
    );
  const seen = new Set<string>();
  for (const raw of splitTopLevel(trimmed, ',')) {
    const item = raw.trim();
    if (item === '') throw new HostSetError(`bad host set "${expr}": empty item between commas`);
    let names: string[];
    if (item.startsWith('A:')) {
      const alias = item.slice(2);
      if (!ALIAS_NAME.test(alias)) throw new HostSetError(`bad alias reference "${item}"`);
      if (aliasChain.includes(alias)) {
        throw new HostSetError(`alias cycle: ${[...aliasChain, alias].map((a) => `A:${a}`).join(' → ')}`, [
          'fix the aliases section of the config so that no alias refers back to itself',
        ]);
      }
      const body = aliases[alias];
      if (body === undefined) {
        const close = closeNames(alias, Object.keys(aliases));
        throw new HostSetError(
          `unknown alias "A:${alias}"${aliasChain.length ? ` (used by A:${aliasChain[aliasChain.length - 1]})` : ''}`,
          close.length
            ? [`did you mean ${close.map((c) => `A:${c}`).join(', ')}?`]
            : ['aliases are defined under "aliases" in the config'],
        );
      }
      names = expandHostSet(body, aliases, [...aliasChain, alias]);
    } else {
      names = expandPattern(item);
    }
    for (const n of names) seen.add(n);
  }
  return [...seen];
}

/**
 * Resolves a host set against the inventory: every name must be a configured host.
 * An unknown host is an error naming it and suggesting close names.
 */
export function resolveHostSet(expr: string, inventory: HostInventory): string[] {
  const names = expandHostSet(expr, inventory.aliases);
  const unknown = names.filter((n) => !Object.hasOwn(inventory.hosts, n));
  if (unknown.length > 0) {
    const first = unknown[0] ?? '';
    const close = closeNames(first, Object.keys(inventory.hosts));
    const more =
      unknown.length > 1 ? ` (and ${unknown.length - 1} more: ${foldHosts(unknown.slice(1))})` : '';
    throw new HostSetError(`unknown host "${first}"${more}: not in the config's hosts`, [
      close.length ? `did you mean ${close.join(', ')}?` : 'hosts are listed under "hosts" in the config',
    ]);
  }
  return names;
}

/**
 * Folds host names back into ClusterShell syntax for display (`bench[001-003].lab.wmnet`).
 * Names are grouped by the text around their first number; other names are kept as they are.
 */
export function foldHosts(names: readonly string[]): string {
  interface Numbered {
    name: string;
    key: string;
    prefix: string;
    digits: string;
    suffix: string;
  }
  const parsed = [...new Set(names)].map((name): Numbered | { name: string; digits?: undefined } => {
    const m = /^([^\d]*)(\d+)(.*)$/.exec(name);
    return m
      ? {
          name,
          key: `${m[1] ?? ''}\u0000${m[3] ?? ''}`,
          prefix: m[1] ?? '',
          digits: m[2] ?? '',
          suffix: m[3] ?? '',
        }
      : { name };
  });
  // Width of each group: the length of its zero-padded numbers (bench001 … bench100 share width 3).
  const widths = new Map<string, number>();
  for (const p of parsed) {
    if (p.digits !== undefined && p.digits.length > 1 && p.digits.startsWith('0'))
      widths.set(p.key, Math.max(widths.get(p.key) ?? 0, p.digits.length));
  }
  const groups = new Map<string, { prefix: string; suffix: string; width: number; numbers: number[] }>();
  const order: string[] = [];
  for (const p of parsed) {
    if (p.digits === undefined) {
      order.push(p.name);
      continue;
    }
    const width = widths.get(p.key) ?? 0;
    const padded = p.digits.length > 1 && p.digits.startsWith('0');
    if ((padded && p.digits.length !== width) || (!padded && p.digits.length < width)) {
      order.push(p.name);
      continue;
    }
    let g = groups.get(p.key);
    if (!g) {
      g = { prefix: p.prefix, suffix: p.suffix, width, numbers: [] };
      groups.set(p.key, g);
      order.push(p.key);
    }
    g.numbers.push(Number(p.digits));
  }
  return order
    .map((key) => {
      const g = groups.get(key);
      if (!g) return key;
      const nums = [...new Set(g.numbers)].sort((a, b) => a - b);
      const pad = (n: number) => String(n).padStart(g.width, '0');
      if (nums.length === 1) return `${g.prefix}${pad(nums[0] ?? 0)}${g.suffix}`;
      const ranges: string[] = [];
      for (let i = 0; i < nums.length;) {
        let j = i;
        while (j + 1 < nums.length && (nums[j + 1] ?? 0) === (nums[j] ?? 0) + 1) j++;
        ranges.push(i === j ? pad(nums[i] ?? 0) : `${pad(nums[i] ?? 0)}-${pad(nums[j] ?? 0)}`);
        i = j + 1;
      }
      return `${g.prefix}[${ranges.join(',')}]${g.suffix}`;
    })
    .join(',');
}
