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
        'etcd.credentials.password: must be a mapping, got string "inline"',
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
});
