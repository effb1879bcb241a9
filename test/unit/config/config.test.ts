import { describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { parseConfig } from '../../../src/config/schema.js';

const good = `
name: test
datacenters: [eqiad, codfw]
hosts:
  conf1007.eqiad.wmnet: {address: 127.0.1.7, datacenter: eqiad, roles: [etcd]}
  conf2004.codfw.wmnet: {address: 127.0.2.4, datacenter: codfw, roles: [etcd]}
aliases: {conf: "conf1007.eqiad.wmnet,conf2004.codfw.wmnet"}
ssh: {key_file: /k, known_hosts: /kh, connect_timeout: 3s}
etcd:
  credentials: {username: root, password: {file: /pw}}
  clusters:
    eqiad: {members: [conf1007.eqiad.wmnet], srv_record: _etcd._tcp.eqiad.wmnet}
    codfw: {members: [conf2004.codfw.wmnet], srv_record: _etcd._tcp.codfw.wmnet}
`;

describe('the environment file', () => {
  test('a valid file parses with defaults filled in', () => {
    const { config, problems } = parseConfig(parse(good), '/x.yaml');
    expect(problems).toEqual([]);
    expect(config?.ssh.connectTimeoutMs).toBe(3000);
    expect(config?.etcd.clusters.eqiad).toMatchObject({
      clientPort: 2379,
      proxyPort: 4001,
      datacenter: 'eqiad',
      unit: 'etcd',
    });
    expect(String(config?.etcd.credentials?.password)).toBe('***');
  });

  test('every problem is reported with its path', () => {
    const raw = parse(good);
    raw.etcd.clusters.eqiad.members.push('conf9999.eqiad.wmnet');
    raw.hosts['conf1007.eqiad.wmnet'].datacenter = 'esams';
    raw.ssh.conect_timeout = '1s';
    raw.etcd.credentials.password = 'inline';
    const { config, problems } = parseConfig(raw, '/x.yaml');
    expect(config).toBeUndefined();
    expect(problems).toEqual(
      expect.arrayContaining([
        'etcd.clusters.eqiad.members[1]: unknown host "conf9999.eqiad.wmnet": it must be listed under hosts',
        'hosts.conf1007.eqiad.wmnet.datacenter: unknown datacenter "esams"; known: eqiad, codfw',
        'ssh.conect_timeout: unknown key (did you mean "connect_timeout"?)',
        'etcd.credentials.password: must be a mapping, got a string (its value is not shown: it is a credential)',
      ]),
    );
  });

  test('a secret must come from a file or the environment, never inline', () => {
    const raw = parse(good);
    raw.etcd.credentials.password = { file: '/a', env: 'B' };
    expect(parseConfig(raw, '/x.yaml').problems).toContain(
      'etcd.credentials.password: give exactly one of "file" (a path) or "env" (an environment variable name); secrets are never inline',
    );
  });

  test('durations need a unit or a number of seconds', () => {
    const raw = parse(good);
    raw.ssh.command_timeout = 'soon';
    expect(parseConfig(raw, '/x.yaml').problems[0]).toMatch(/^ssh.command_timeout: invalid duration "soon"/);
  });
});

describe('the shipped fixtures', () => {
  test('fixtures/example.yaml is a valid environment file', async () => {
    const { loadConfig } = await import('../../../src/config/load.js');
    const config = loadConfig('fixtures/example.yaml');
    expect(Object.keys(config.etcd.clusters)).toEqual(['eqiad', 'codfw']);
    expect(config.dns?.zones.wmnet?.servers.map((s) => s.address)).toEqual(['127.20.3.1', '127.20.3.2']);
  });

  test('backup and service settings of a cluster default sensibly and are validated by path', () => {
    const ok = parseConfig(parse(good), '/x.yaml').config!;
    expect(ok.etcd.clusters.eqiad).toMatchObject({
      backupDir: '/srv/backup/etcd',
      backupKeep: 7,
      inService: true,
    });
    const raw = parse(good);
    Object.assign(raw.etcd.clusters.eqiad, { backup_dir: 'srv/backup', backup_keep: 0, in_service: 'no' });
    Object.assign(raw.etcd.clusters.codfw, { backup_dir: '/srv/../etc' });
    const { problems } = parseConfig(raw, '/x.yaml');
    expect(problems).toEqual(
      expect.arrayContaining([
        'etcd.clusters.eqiad.backup_dir: must be an absolute path below / without "..", not "srv/backup"',
        'etcd.clusters.eqiad.backup_keep: must be an integer from 1 to 1000, got number 0',
        'etcd.clusters.eqiad.in_service: must be true or false, got string "no"',
        'etcd.clusters.codfw.backup_dir: must be an absolute path below / without "..", not "/srv/../etc"',
      ]),
    );
  });
});

describe('replication bounds of a switchover', () => {
  const withReplication = (extra: string) =>
    parseConfig(
      parse(
        `${good}replication:\n  master: codfw\n  rw_srv_record: _c._tcp.conftool\n  mirrors: {}\n${extra}`,
      ),
      '/x.yaml',
    );

  test('max_lag defaults to 100 events and ttl_wait_max to none (the whole TTL)', () => {
    const { config, problems } = withReplication('');
    expect(problems).toEqual([]);
    expect(config!.replication!.maxLagEvents).toBe(100);
    expect(config!.replication!.ttlWaitMaxMs).toBeUndefined();
  });

  test('both are read, and a bad value is named with its path', () => {
    expect(withReplication('  max_lag: 20\n  ttl_wait_max: 5s\n').config!.replication).toMatchObject({
      maxLagEvents: 20,
      ttlWaitMaxMs: 5000,
    });
    expect(withReplication('  max_lag: many\n').problems.join('\n')).toContain('replication.max_lag');
  });
});
