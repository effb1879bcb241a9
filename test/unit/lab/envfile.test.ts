import { describe, expect, test } from '@jest/globals';
import { parseConfig } from '../../../src/config/schema.js';
import { labEnvironment } from '../../../src/lab/envfile.js';
import { LabLayout } from '../../../src/lab/layout.js';
import { labTopology } from '../../../src/lab/topology.js';

const t = labTopology('127.22', 50);
const layout = new LabLayout('/tmp/lab-x');

describe('the environment files of the lab', () => {
  test('the gdnsd variant passes the config schema with every host, alias and cluster', () => {
    const { config, problems } = parseConfig(labEnvironment(t, layout, 'zonefile'), '/tmp/lab-x/galley.yaml');
    expect(problems).toEqual([]);
    expect(Object.keys(config!.hosts)).toHaveLength(6 + 2 + 3 + 50);
    expect(Object.keys(config!.aliases).sort()).toEqual([
      'authdns',
      'bench',
      'conf',
      'conf-codfw',
      'conf-eqiad',
      'kubetcd',
    ]);
    expect(config!.etcd.clusters.codfw).toMatchObject({
      srvRecord: '_etcd._tcp.codfw.wmnet',
      proxyPort: 4001,
      clientPort: 2379,
    });
    expect(config!.replication).toMatchObject({
      master: 'codfw',
      rwSrvRecord: '_etcd-client-ssl._tcp.conftool.wmnet',
      maxLagEvents: 100,
      ttlWaitMaxMs: 2000,
    });
    expect(config!.replication!.mirrors.eqiad).toMatchObject({
      host: 'conf1007.eqiad.wmnet',
      unit: 'etcdmirror-conftool-eqiad-wmnet',
    });
    expect(config!.dns!.zones.wmnet!.backend).toMatchObject({
      type: 'zonefile',
      host: 'authdns1001.eqiad.wmnet',
      publishCommand: ['authdns-update'],
    });
    expect(config!.dns!.zones.wmnet!.servers.map((s) => s.address)).toEqual(['127.22.3.1', '127.22.3.2']);
    expect(config!.etcd.credentials?.password.origin).toBe('file /tmp/lab-x/pki/etcd-password');
  });

  test('the knot variant differs only by its rfc2136 zone backend with the TSIG key from a file', () => {
    const gdnsd = labEnvironment(t, layout, 'zonefile');
    const knot = labEnvironment(t, layout, 'rfc2136');
    const { config, problems } = parseConfig(knot, '/tmp/lab-x/galley-rfc2136.yaml');
    expect(problems).toEqual([]);
    expect(config!.dns!.zones.wmnet!.backend).toMatchObject({
      type: 'rfc2136',
      server: { address: '127.22.3.53', port: 53 },
    });
    expect({ ...knot, name: 'x', dns: undefined }).toEqual({ ...gdnsd, name: 'x', dns: undefined });
  });

  test('the third cluster is defined, not in service, with its own data directory and backups kept to 3', () => {
    const { config } = parseConfig(labEnvironment(t, layout, 'zonefile'), '/tmp/lab-x/galley.yaml');
    expect(config!.etcd.clusters.kubetcd).toMatchObject({
      datacenter: 'eqiad',
      members: ['kubetcd1004.eqiad.wmnet', 'kubetcd1005.eqiad.wmnet', 'kubetcd1006.eqiad.wmnet'],
      dataDir: '/var/lib/etcd/kubetcd',
      inService: false,
      backupDir: '/srv/backup/etcd',
      backupKeep: 3,
    });
    expect(config!.etcd.clusters.eqiad).toMatchObject({ inService: true, backupKeep: 3 });
    expect(config!.hosts['kubetcd1004.eqiad.wmnet']).toMatchObject({
      address: '127.22.4.4',
      roles: ['etcd'],
    });
    expect(config!.replication!.mirrors.eqiad!.reloadCommand).toEqual(['reload-etcdmirror']);
  });
});
