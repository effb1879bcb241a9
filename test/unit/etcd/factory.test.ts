import { describe, expect, test } from '@jest/globals';
import { parseConfig, type GalleyConfig } from '../../../src/config/schema.js';
import { ConfigError } from '../../../src/core/errors.js';
import { etcdClientFor, etcdEndpointsFor, lockClusterOf } from '../../../src/etcd/factory.js';

function config(): GalleyConfig {
  const { config, problems } = parseConfig(
    {
      datacenters: ['eqiad'],
      hosts: {
        'conf1001.eqiad.wmnet': { address: '127.32.1.1', datacenter: 'eqiad' },
        'conf1002.eqiad.wmnet': { address: '127.32.1.2', datacenter: 'eqiad' },
      },
      ssh: { key_file: '/k', known_hosts: '/kh' },
      etcd: {
        credentials: { username: 'root', password: { env: 'GALLEY_TEST_ETCD_PASSWORD' } },
        clusters: {
          eqiad: {
            members: ['conf1001.eqiad.wmnet', 'conf1002.eqiad.wmnet'],
            srv_record: '_etcd._tcp.eqiad.wmnet',
            proxy_port: 4001,
            client_port: 2379,
          },
        },
      },
    },
    '/tmp/galley-test.yaml',
  );
  if (!config) throw new Error(problems.join('\n'));
  return config;
}

describe('etcdEndpointsFor', () => {
  test('via proxy: https to each member address on the proxy port, verified as the member host name', () => {
    expect(etcdEndpointsFor(config(), 'eqiad', { via: 'proxy' })).toEqual([
      { url: 'https://127.32.1.1:4001', hostName: 'conf1001.eqiad.wmnet' },
      { url: 'https://127.32.1.2:4001', hostName: 'conf1002.eqiad.wmnet' },
    ]);
  });

  test('via local: the client scheme and port of each member', () => {
    expect(etcdEndpointsFor(config(), 'eqiad', { via: 'local' }).map((e) => e.url)).toEqual([
      'http://127.32.1.1:2379',
      'http://127.32.1.2:2379',
    ]);
  });

  test('a subset of members keeps the order asked for', () => {
    expect(
      etcdEndpointsFor(config(), 'eqiad', { via: 'local', members: ['conf1002.eqiad.wmnet'] }).map(
        (e) => e.hostName,
      ),
    ).toEqual(['conf1002.eqiad.wmnet']);
  });

  test('an unknown cluster or member is a config error naming the known ones', () => {
    expect(() => etcdEndpointsFor(config(), 'codfw', { via: 'proxy' })).toThrow(ConfigError);
    expect(() => etcdEndpointsFor(config(), 'codfw', { via: 'proxy' })).toThrow(
      'unknown etcd cluster "codfw"',
    );
    expect(() =>
      etcdEndpointsFor(config(), 'eqiad', { via: 'proxy', members: ['conf2001.codfw.wmnet'] }),
    ).toThrow(/not a member/);
  });
});

describe('etcdClientFor', () => {
  test('the client names its endpoints by member host name, in fail-over order', () => {
    const c = etcdClientFor(config(), 'eqiad', { via: 'local' });
    expect(c.endpoints).toEqual(['http://conf1001.eqiad.wmnet:2379', 'http://conf1002.eqiad.wmnet:2379']);
    c.close();
  });

  test('an unreadable CA file is a config error saying which file', () => {
    const cfg = config();
    cfg.etcd.caFile = '/nonexistent/ca.pem';
    expect(() => etcdClientFor(cfg, 'eqiad', { via: 'proxy' })).toThrow(
      'cannot read etcd.ca_file /nonexistent/ca.pem: ENOENT',
    );
  });
});

describe('lockClusterOf', () => {
  test('locks live in the cluster of the replication master, else the first cluster', () => {
    const cfg = config();
    expect(lockClusterOf(cfg)).toBe('eqiad');
    cfg.etcd.clusters.codfw = { ...cfg.etcd.clusters.eqiad!, name: 'codfw', datacenter: 'codfw' };
    cfg.replication = {
      master: 'codfw',
      srcPrefix: '/',
      dstPrefix: '/',
      ignoreKeysRegex: '',
      mirrors: {},
      rwSrvRecord: '',
      maxLagEvents: 100,
    };
    expect(lockClusterOf(cfg)).toBe('codfw');
  });
});
