import { describe, expect, test } from '@jest/globals';
import {
  allHosts,
  benchHostSet,
  initialCluster,
  labListeners,
  labTopology,
  parseBase,
} from '../../../src/lab/topology.js';

describe('lab topology', () => {
  test('conf hosts keep their production names on addresses derived from the base', () => {
    const t = labTopology('127.22');
    expect(t.clusters.map((c) => c.members.map((m) => `${m.name}=${m.address}`))).toEqual([
      [
        'conf1007.eqiad.wmnet=127.22.1.7',
        'conf1008.eqiad.wmnet=127.22.1.8',
        'conf1009.eqiad.wmnet=127.22.1.9',
      ],
      [
        'conf2004.codfw.wmnet=127.22.2.4',
        'conf2005.codfw.wmnet=127.22.2.5',
        'conf2006.codfw.wmnet=127.22.2.6',
      ],
    ]);
    expect(t.authdns.map((h) => h.address)).toEqual(['127.22.3.1', '127.22.3.2']);
    expect(t.knot.address).toBe('127.22.3.53');
    expect(t.master).toBe('codfw');
  });

  test('bench hosts are numbered with three digits on the 9 subnet', () => {
    const t = labTopology('127.20', 50);
    expect(t.bench).toHaveLength(50);
    expect(t.bench[0]).toMatchObject({ name: 'bench001.lab.wmnet', address: '127.20.9.1', role: 'bench' });
    expect(t.bench[49]).toMatchObject({ name: 'bench050.lab.wmnet', address: '127.20.9.50' });
  });

  test('1,000 bench hosts spread over four /24s with four-digit names that sort, all addresses distinct', () => {
    const t = labTopology('127.40', 1000);
    expect(t.bench).toHaveLength(1000);
    expect(
      [t.bench[0], t.bench[249], t.bench[250], t.bench[999]].map((h) => `${h!.name}=${h!.address}`),
    ).toEqual([
      'bench0001.lab.wmnet=127.40.9.1',
      'bench0250.lab.wmnet=127.40.9.250',
      'bench0251.lab.wmnet=127.40.10.1',
      'bench1000.lab.wmnet=127.40.12.250',
    ]);
    const names = t.bench.map((h) => h.name);
    expect([...names].sort()).toEqual(names);
    const hosts = allHosts(t);
    expect(new Set(hosts.map((h) => h.address)).size).toBe(hosts.length);
    expect(benchHostSet(1000)).toBe('bench[0001-1000].lab.wmnet');
    expect(benchHostSet(50)).toBe('bench[001-050].lab.wmnet');
  });

  test('a bench host count past the eight /24s is refused', () => {
    expect(() => labTopology('127.40', 2001)).toThrow(
      'bench hosts must be a whole number from 0 to 2000, not 2001',
    );
  });

  test('every host has a distinct address', () => {
    const hosts = allHosts(labTopology('127.20'));
    expect(new Set(hosts.map((h) => h.address)).size).toBe(hosts.length);
  });

  test('a base that is not 127.N is refused with an example', () => {
    expect(() => parseBase('10.0')).toThrow('e.g. 127.20');
    expect(() => parseBase('127.300')).toThrow('127.N');
    expect(parseBase(' 127.031 ')).toBe('127.31');
  });

  test('the initial cluster lists every member with its peer URL', () => {
    const t = labTopology('127.22');
    expect(initialCluster(t.clusters[1]!)).toBe(
      'conf2004.codfw.wmnet=http://127.22.2.4:2380,conf2005.codfw.wmnet=http://127.22.2.5:2380,conf2006.codfw.wmnet=http://127.22.2.6:2380',
    );
  });

  test('the listeners to check cover ssh, etcd, peers and proxy of each conf host and DNS over UDP and TCP', () => {
    const l = labListeners(labTopology('127.22', 0)).map((x) => `${x.address}:${x.port}/${x.proto}`);
    expect(l).toEqual(
      expect.arrayContaining([
        '127.22.1.7:22/tcp',
        '127.22.1.7:2379/tcp',
        '127.22.1.7:2380/tcp',
        '127.22.1.7:4001/tcp',
      ]),
    );
    expect(l).toEqual(
      expect.arrayContaining(['127.22.3.1:53/udp', '127.22.3.1:53/tcp', '127.22.3.53:53/udp']),
    );
  });

  test('the spare cluster has three hosts on the 4 subnet, with sshd and free etcd ports to check but nothing else', () => {
    const t = labTopology('127.22', 0);
    expect(
      t.spareClusters.map((c) => [c.name, c.datacenter, c.members.map((m) => `${m.name}=${m.address}`)]),
    ).toEqual([
      [
        'kubetcd',
        'eqiad',
        [
          'kubetcd1004.eqiad.wmnet=127.22.4.4',
          'kubetcd1005.eqiad.wmnet=127.22.4.5',
          'kubetcd1006.eqiad.wmnet=127.22.4.6',
        ],
      ],
    ]);
    const l = labListeners(t).map((x) => `${x.address}:${x.port}/${x.proto}`);
    expect(l.filter((x) => x.startsWith('127.22.4.4:'))).toEqual([
      '127.22.4.4:22/tcp',
      '127.22.4.4:2379/tcp',
      '127.22.4.4:2380/tcp',
    ]);
    expect(allHosts(t).filter((h) => h.role === 'spare')).toHaveLength(3);
  });
});
