import { describe, expect, test } from '@jest/globals';
import { replicationIndexKey, seedKeys } from '../../../src/lab/seed.js';

describe('lab seed data', () => {
  test('conftool pools hold a few dozen pooled nodes in both datacenters', () => {
    const pools = seedKeys(['eqiad', 'codfw']).filter((k) => k.key.startsWith('/conftool/v1/pools/'));
    expect(pools.length).toBeGreaterThanOrEqual(24);
    expect(new Set(pools.map((k) => k.key)).size).toBe(pools.length);
    expect(pools.every((k) => k.value === '{"pooled":"yes","weight":10}')).toBe(true);
    expect(pools.map((k) => k.key)).toContainEqual(
      expect.stringMatching(/^\/conftool\/v1\/pools\/codfw\/appserver\/apache2\/mw\d+\.codfw\.wmnet$/),
    );
  });

  test('spicerack locks live under /spicerack/locks', () => {
    const locks = seedKeys(['eqiad']).filter((k) => k.key.startsWith('/spicerack/locks/'));
    expect(locks.length).toBeGreaterThan(0);
    for (const l of locks) expect(JSON.parse(l.value)).toHaveProperty('locks');
  });

  test('the replication index of the root prefix is /__replication/__ROOT__', () => {
    expect(replicationIndexKey('/')).toBe('/__replication/__ROOT__');
    expect(replicationIndexKey('/conftool/')).toBe('/__replication/conftool');
  });
});
