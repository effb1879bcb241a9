import { describe, expect, test } from '@jest/globals';
import { parseConfig, type GalleyConfig } from '../../../src/config/schema.js';
import { backendForZone, zoneBackendFor } from '../../../src/dns/backend.js';
import { DnsZoneNotConfiguredError } from '../../../src/dns/errors.js';
import { zoneFor } from '../../../src/dns/zones.js';
import type { RemoteRunner } from '../../../src/ssh/types.js';

function config(): GalleyConfig {
  const { config, problems } = parseConfig(
    {
      datacenters: ['eqiad'],
      hosts: { authdns1: { address: '127.31.0.1', datacenter: 'eqiad' } },
      ssh: { key_file: '/k', known_hosts: '/kh' },
      etcd: { clusters: {} },
      dns: {
        zones: {
          'example.test': {
            servers: ['authdns1', '127.31.0.2'],
            backend: { type: 'zonefile', host: 'authdns1', file: '/etc/gdnsd/zones/example.test' },
          },
          'dyn.example.test': {
            servers: ['127.31.0.3:5353'],
            backend: {
              type: 'rfc2136',
              server: '127.31.0.3:5353',
              tsig: { name: 'k', secret: { env: 'NOPE' } },
            },
          },
        },
      },
    },
    '/tmp/env.yaml',
  );
  if (!config) throw new Error(problems.join('; '));
  return config;
}

const noRunner: RemoteRunner = {
  run: () => Promise.reject(new Error('no remote commands in this test')),
};

describe('choosing the zone of a name', () => {
  test('the longest configured zone that contains the name wins', () => {
    expect(zoneFor(config(), '_etcd._tcp.dyn.example.test').name).toBe('dyn.example.test');
    expect(zoneFor(config(), 'conf1001.Example.Test.').name).toBe('example.test');
    expect(zoneFor(config(), 'example.test').name).toBe('example.test');
  });

  test('a zone matches on label boundaries only', () => {
    expect(() => zoneFor(config(), 'notexample.test')).toThrow(DnsZoneNotConfiguredError);
    expect(() => zoneFor(config(), 'notexample.test')).toThrow(
      'no zone of the config contains notexample.test (zones: example.test, dyn.example.test)',
    );
  });
});

describe('the backend of a zone', () => {
  test('comes from the zone backend type in the config', () => {
    const c = config();
    expect(zoneBackendFor(c, 'example.test', noRunner).description).toBe(
      'zone file authdns1:/etc/gdnsd/zones/example.test, published with `authdns-update`',
    );
    expect(backendForZone(c, c.dns!.zones['dyn.example.test']!, noRunner).description).toBe(
      'RFC 2136 update of dyn.example.test on 127.31.0.3:5353 (127.31.0.3:5353) with TSIG key k',
    );
  });

  test('an unknown zone is a config error', () => {
    expect(() => zoneBackendFor(config(), 'nope.test', noRunner)).toThrow(
      'no zone "nope.test" under dns.zones in /tmp/env.yaml',
    );
  });
});
