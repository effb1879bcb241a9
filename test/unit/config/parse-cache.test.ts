import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../../src/config/load.js';
import { CACHE_MIN_BYTES, parseCacheFile, parseThroughCache } from '../../../src/config/parse-cache.js';

/** An environment file with `n` hosts: big enough to be cached from a few hundred hosts. */
function fleetConfig(n: number, dcOfFirst = 'eqiad'): string {
  const hosts = Array.from({ length: n }, (_, i) => {
    const name = `bench${String(i + 1).padStart(4, '0')}.lab.wmnet`;
    const dc = i === 0 ? dcOfFirst : 'eqiad';
    return `  ${name}:\n    address: 127.30.${9 + Math.floor(i / 250)}.${(i % 250) + 1}\n    datacenter: ${dc}\n    roles: [bench]\n`;
  });
  return (
    `name: test\ndatacenters: [eqiad, codfw]\nhosts:\n${hosts.join('')}ssh: {key_file: /k, known_hosts: /kh}\n` +
    'etcd:\n  clusters:\n    eqiad: {members: [bench0002.lab.wmnet], srv_record: _etcd._tcp.eqiad.wmnet}\n'
  );
}

describe('the cache of parsed environment files', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const saved = { ...process.env };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'galley-parse-cache-'));
    env = { XDG_CACHE_HOME: join(dir, 'cache') };
    process.env.XDG_CACHE_HOME = env.XDG_CACHE_HOME;
    delete process.env.GALLEY_CONFIG_CACHE;
  });
  afterEach(() => {
    process.env = { ...saved };
    rmSync(dir, { recursive: true, force: true });
  });

  test('a large file is parsed once: the next load reads the cached document, not the YAML', () => {
    const file = join(dir, 'galley.yaml');
    const text = fleetConfig(400);
    expect(Buffer.byteLength(text)).toBeGreaterThan(CACHE_MIN_BYTES);
    let parses = 0;
    const counting = (t: string) => {
      parses++;
      return parse(t) as unknown;
    };
    const first = parseThroughCache(file, text, counting, env);
    const second = parseThroughCache(file, text, counting, env);
    expect(parses).toBe(1);
    expect(second).toEqual(first);
    expect(existsSync(parseCacheFile(file, env)!)).toBe(true);
  });

  test('a changed file is parsed again and validated: its new contents are what loads', () => {
    const file = join(dir, 'galley.yaml');
    writeFileSync(file, fleetConfig(400));
    expect(loadConfig(file).hosts['bench0001.lab.wmnet']?.datacenter).toBe('eqiad');
    writeFileSync(file, fleetConfig(400, 'codfw'));
    expect(loadConfig(file).hosts['bench0001.lab.wmnet']?.datacenter).toBe('codfw');
    // A problem in the new text is reported, although the old text was valid and cached.
    writeFileSync(file, fleetConfig(400, 'esams'));
    expect(() => loadConfig(file)).toThrow(/esams/);
  });

  test('a corrupt cache entry is ignored and replaced', () => {
    const file = join(dir, 'galley.yaml');
    writeFileSync(file, fleetConfig(400));
    loadConfig(file);
    const cacheFile = parseCacheFile(file, env)!;
    writeFileSync(cacheFile, '{"sha256": "trunc');
    expect(Object.keys(loadConfig(file).hosts)).toHaveLength(400);
    expect(JSON.parse(readFileSync(cacheFile, 'utf8')).sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  test('small files, GALLEY_CONFIG_CACHE=0, and documents JSON cannot hold are not cached', () => {
    const file = join(dir, 'galley.yaml');
    parseThroughCache(file, fleetConfig(3), parse, env);
    expect(existsSync(parseCacheFile(file, env)!)).toBe(false);
    parseThroughCache(file, fleetConfig(400), parse, { ...env, GALLEY_CONFIG_CACHE: '0' });
    expect(existsSync(parseCacheFile(file, env)!)).toBe(false);
    expect(parseCacheFile(file, { ...env, GALLEY_CONFIG_CACHE: '0' })).toBeUndefined();
    const withInfinity = `${fleetConfig(400)}limit: .inf\n`;
    const doc = parseThroughCache(file, withInfinity, parse, env) as { limit: number };
    expect(doc.limit).toBe(Infinity);
    expect(existsSync(parseCacheFile(file, env)!)).toBe(false);
  });

  test('a cache directory that cannot be written leaves loading unchanged', () => {
    const file = join(dir, 'galley.yaml');
    writeFileSync(join(dir, 'cache'), 'a file where the cache directory would be');
    const doc = parseThroughCache(file, fleetConfig(400), parse, env) as { hosts: object };
    expect(Object.keys(doc.hosts)).toHaveLength(400);
  });
});
