import { describe, expect, test } from '@jest/globals';
import { allHosts, initialCluster, labListeners, labTopology, parseBase } from '../../../src/lab/topology.js';

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
});
