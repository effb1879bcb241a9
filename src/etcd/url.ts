/** Pure helpers that build etcd v2 API paths. */

/** Checks a key and normalises it: leading slash, no trailing slash (except the root), no empty parts. */
export function normalizeKey(key: string): string {
  if (typeof key !== 'string' || key === '')
    throw new Error('an etcd key must be a non-empty string such as /conftool/pools');
  const parts = key.split('/').filter((p) => p !== '');
  for (const p of parts) {
    if (p === '.' || p === '..')
      throw new Error(`invalid etcd key ${JSON.stringify(key)}: "." and ".." are not allowed`);
  }
  return `/${parts.join('/')}`;
}

/** The API path of a key, each part percent-encoded: `/a b/c` → `/v2/keys/a%20b/c`. */
export function keyPath(key: string): string {
  const k = normalizeKey(key);
  if (k === '/') return '/v2/keys/';
  return `/v2/keys${k
    .split('/')
    .map((p) => encodeURIComponent(p))
    .join('/')}`;
}

/**
 * True when a path part starts with `_`: etcd v2 hides such keys (`/__replication`) from
 * listings and from live watch streams, though history long-polls still return them.
 */
export function isHiddenKey(key: string): boolean {
  return key.split('/').some((part) => part.startsWith('_'));
}

/** The API path of one member (ids are hexadecimal strings). */
export function memberPath(id: string): string {
  if (!/^[0-9a-f]{1,16}$/i.test(id))
    throw new Error(
      `invalid etcd member id ${JSON.stringify(id)}: expected a hexadecimal id such as 8e9e05c52164694d`,
    );
  return `/v2/members/${id}`;
}

/** Joins an endpoint's base path (usually empty or `/`) with an API path. */
export function buildPath(basePath: string, apiPath: string): string {
  const base = basePath.replace(/\/+$/, '');
  return `${base}${apiPath.startsWith('/') ? '' : '/'}${apiPath}`;
}

/** Base URL of an endpoint; IPv6 addresses get brackets. */
export function endpointUrl(scheme: 'http' | 'https', address: string, port: number): string {
  const host = address.includes(':') ? `[${address}]` : address;
  return `${scheme}://${host}:${port}`;
}

/** The key segment of a lock name: one path part, whatever the name contains. */
export function lockSegment(name: string): string {
  return name.replace(/%/g, '%25').replace(/\//g, '%2F');
}
