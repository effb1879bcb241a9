import { describe, expect, test } from '@jest/globals';
import { buildPath, endpointUrl, keyPath, memberPath, normalizeKey } from '../../../src/etcd/url.js';
import { encodeParams, etcdIndexOf } from '../../../src/etcd/http.js';

describe('etcd URL building', () => {
  test('keys are normalised to one leading slash and no empty parts', () => {
    expect(normalizeKey('conftool//pools/')).toBe('/conftool/pools');
    expect(normalizeKey('/')).toBe('/');
  });

  test('dot segments and empty keys are refused', () => {
    expect(() => normalizeKey('/a/../b')).toThrow(/not allowed/);
    expect(() => normalizeKey('')).toThrow(/non-empty/);
  });

  test('each part of a key path is percent-encoded, slashes kept', () => {
    expect(keyPath('/conftool/v1/pools/eqiad/a b/c?d#e')).toBe(
      '/v2/keys/conftool/v1/pools/eqiad/a%20b/c%3Fd%23e',
    );
    expect(keyPath('/')).toBe('/v2/keys/');
  });

  test('member ids must be hexadecimal', () => {
    expect(memberPath('8e9e05c52164694d')).toBe('/v2/members/8e9e05c52164694d');
    expect(() => memberPath('../keys')).toThrow(/hexadecimal/);
  });

  test('an endpoint base path is joined without double slashes', () => {
    expect(buildPath('/', '/v2/keys/a')).toBe('/v2/keys/a');
    expect(buildPath('/etcd/', '/v2/keys/a')).toBe('/etcd/v2/keys/a');
  });

  test('endpoint URLs put brackets around IPv6 addresses', () => {
    expect(endpointUrl('https', '127.0.1.1', 4001)).toBe('https://127.0.1.1:4001');
    expect(endpointUrl('http', '::1', 2379)).toBe('http://[::1]:2379');
  });

  test('form parameters leave out undefined values and encode the rest', () => {
    expect(encodeParams({ value: 'a=b&c', ttl: 5, prevExist: false, prevIndex: undefined })).toBe(
      'value=a%3Db%26c&ttl=5&prevExist=false',
    );
  });

  test('X-Etcd-Index is read as a number, absent when missing', () => {
    expect(etcdIndexOf({ 'x-etcd-index': '1234' })).toBe(1234);
    expect(etcdIndexOf({})).toBeUndefined();
  });
});
