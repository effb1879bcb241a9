import { describe, expect, test } from '@jest/globals';
import {
  DEFAULT_IGNORE_REGEX,
  KeyMapper,
  ancestorsOf,
  indexKeyFor,
  isHidden,
  normalizePrefix,
} from '../../../src/mirror/keys.js';

describe('prefixes and keys', () => {
  test('prefixes are normalised to a leading slash and no trailing slash', () => {
    expect(normalizePrefix('conftool/')).toBe('/conftool');
    expect(normalizePrefix('//a//b/')).toBe('/a/b');
    expect(normalizePrefix('/')).toBe('/');
  });

  test('the index key is /__replication plus the destination prefix, or __ROOT__ for the root', () => {
    expect(indexKeyFor('/')).toBe('/__replication/__ROOT__');
    expect(indexKeyFor('/replica')).toBe('/__replication/replica');
  });

  test('ancestors of a key are listed from the root down', () => {
    expect(ancestorsOf('/a/b/c')).toEqual(['/', '/a', '/a/b']);
    expect(ancestorsOf('/a')).toEqual(['/']);
    expect(ancestorsOf('/')).toEqual([]);
  });

  test('a key with any part starting with an underscore is hidden', () => {
    expect(isHidden('/__replication/__ROOT__')).toBe(true);
    expect(isHidden('/a/_b/c')).toBe(true);
    expect(isHidden('/a/b_c')).toBe(false);
  });
});

describe('KeyMapper', () => {
  test('without --strip the source key is appended to the destination prefix', () => {
    const m = new KeyMapper({ srcPrefix: '/conftool', dstPrefix: '/replica', strip: false });
    expect(m.toDst('/conftool/v1/x')).toBe('/replica/conftool/v1/x');
    expect(m.dstBase).toBe('/replica/conftool');
    expect(m.toSrc('/replica/conftool/v1/x')).toBe('/conftool/v1/x');
  });

  test('with --strip the source prefix is replaced by the destination prefix', () => {
    const m = new KeyMapper({ srcPrefix: '/conftool', dstPrefix: '/replica', strip: true });
    expect(m.toDst('/conftool/v1/x')).toBe('/replica/v1/x');
    expect(m.toDst('/conftool')).toBe('/replica');
    expect(m.toSrc('/replica/v1/x')).toBe('/conftool/v1/x');
  });

  test('replicating / to / keeps every key where it is', () => {
    const m = new KeyMapper({ srcPrefix: '/', dstPrefix: '/', strip: false });
    expect(m.toDst('/a/b')).toBe('/a/b');
    expect(m.dstBase).toBe('/');
    expect(m.indexKey).toBe('/__replication/__ROOT__');
  });

  test('keys outside the source prefix, hidden keys and ignored keys are not replicated', () => {
    const m = new KeyMapper({
      srcPrefix: '/',
      dstPrefix: '/',
      strip: false,
      ignoreRegex: DEFAULT_IGNORE_REGEX,
    });
    expect(m.skipReason('/__replication/__ROOT__')).toBe('hidden');
    expect(m.skipReason('/spicerack/locks/etcd/foo')).toBe('ignored');
    expect(m.skipReason('/galley/locks/dns.switch')).toBe('ignored');
    expect(m.skipReason('/spicerack/locks/cookbooks/x')).toBeUndefined();
    const p = new KeyMapper({ srcPrefix: '/conftool', dstPrefix: '/', strip: false });
    expect(p.skipReason('/conftoolx/a')).toBe('outside-prefix');
    expect(p.skipReason('/conftool/a')).toBeUndefined();
  });
});
