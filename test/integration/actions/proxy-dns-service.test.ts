import { afterAll, describe, expect, test } from '@jest/globals';
import { dirname, join } from 'node:path';
import { setRecordSet, setRecordTtl } from '../../../src/actions/dns.js';
import { checkProxyMode, probeProxyMode, setProxyMode } from '../../../src/actions/proxy.js';
import { ensureService } from '../../../src/actions/remote.js';
import { check, defineCookbook, step } from '../../../src/core/cookbook.js';
import { loadConfig } from '../../../src/config/load.js';
import { observeRRset, type RecordValue } from '../../../src/dns/index.js';
import { labConfig, labConfigPath } from '../lab.js';
import { LabFaults, leaderOf } from '../../support/lab-faults.js';
import { CheckError } from '../../../src/core/errors.js';
import { fail, labEnv, runAgainstLab } from './harness.js';

const config = labConfig();
const env = labEnv(config);
afterAll(() => env.close());

const ttlsOn = async (name: string) => {
  const o = await observeRRset(config, name, 'SRV');
  return o.servers.map((s) => [...new Set((s.records ?? []).map((r) => r.ttl))].join('/'));
};

describe('the proxy read-only switch on the lab', () => {
  test('codfw goes read-only (a canary write refused with 107 on every member), then back on rollback', async () => {
    const cb = defineCookbook({
      title: 't',
      args: {},
      steps: () => [
        step('codfw read-only', [setProxyMode(config, 'codfw', 'read-only')]),
        check('codfw refuses writes', () => checkProxyMode(env, 'codfw', 'read-only'), { timeoutMs: 5000 }),
        step('fail', [fail({ why: 'boom' })]),
      ],
    });
    const { result, output } = await runAgainstLab(config, cb);
    expect(output).toContain('conf2004.codfw.wmnet proxy: read-write → read-only');
    expect(output).toContain('codfw: every live proxy is read-only');
    expect(result.outcome).toBe('rolled-back');
    for (const h of config.etcd.clusters.codfw!.members)
      expect(await probeProxyMode(env, 'codfw', h)).toBe('read-write');
  }, 60_000);

  test("a rollback right after codfw's leader is killed waits out the election and verifies the live proxies", async () => {
    // While the two live members elect a new leader, none of them answers healthy: the undo's
    // verification used to take that for "no member answers" and end the run with exit 93.
    const faults = new LabFaults(config);
    let killed = '';
    const cb = defineCookbook({
      title: 't',
      args: {},
      steps: () => [
        step('codfw read-only', [setProxyMode(config, 'codfw', 'read-only')]),
        check("kill codfw's leader", async () => {
          killed = await leaderOf(config, 'codfw');
          await faults.killEtcd(killed);
          throw new CheckError(`killed the leader ${killed}`);
        }),
      ],
    });
    try {
      const { result, output } = await runAgainstLab(config, cb);
      expect(result.outcome).toBe('rolled-back');
      expect(output).toContain('rollback complete');
      for (const h of config.etcd.clusters.codfw!.members.filter((m) => m !== killed))
        expect(await probeProxyMode(env, 'codfw', h)).toBe('read-write');
    } finally {
      await faults.repair();
    }
    expect(await probeProxyMode(env, 'codfw', killed)).toBe('read-write');
  }, 60_000);

  test('a dry-run of the switch changes nothing', async () => {
    const cb = defineCookbook({
      title: 't',
      args: {},
      steps: () => [step('eqiad read-write', [setProxyMode(config, 'eqiad', 'read-write')])],
    });
    const { result, output } = await runAgainstLab(config, cb, { dryRun: true });
    expect(result.outcome).toBe('dry-run');
    expect(output).toContain('conf1007.eqiad.wmnet proxy: read-only → read-write');
    for (const h of config.etcd.clusters.eqiad!.members)
      expect(await probeProxyMode(env, 'eqiad', h)).toBe('read-only');
  }, 30_000);
});

describe('DNS record sets on the lab', () => {
  for (const backend of ['zonefile', 'rfc2136'] as const) {
    test(`a TTL change through the ${backend} backend is verified on every server and undone exactly`, async () => {
      const cfg =
        backend === 'zonefile' ? config : loadConfig(join(dirname(labConfigPath()), 'galley-rfc2136.yaml'));
      const name = '_etcd._tcp.codfw.wmnet';
      const before = await observeRRset(cfg, name, 'SRV');
      const cb = defineCookbook({
        title: 't',
        args: {},
        steps: () => [
          step('ttl 10', [setRecordTtl({ name, type: 'SRV', ttlSeconds: 10 })]),
          step('fail', [fail({ why: 'boom' })]),
        ],
      });
      const { result, output } = await runAgainstLab(cfg, cb);
      expect(output).toContain(`${name} SRV TTL: 300s → 10s`);
      expect(result.outcome).toBe('rolled-back');
      const after = await observeRRset(cfg, name, 'SRV');
      expect(after.servers.map((s) => s.records)).toEqual(before.servers.map((s) => s.records));
    }, 60_000);
  }

  test('an SRV record set is switched to other targets, verified everywhere, and a dry-run of it changes nothing', async () => {
    const name = '_etcd-client-ssl._tcp.conftool.wmnet';
    const eqiad: RecordValue[] = config.etcd.clusters.eqiad!.members.map((h) => ({
      ttl: 300,
      data: { priority: 0, weight: 1, port: 4001, target: h },
    }));
    const before = await observeRRset(config, name, 'SRV');
    const dry = await runAgainstLab(
      config,
      defineCookbook({
        title: 't',
        args: {},
        steps: () => [step('switch', [setRecordSet({ name, type: 'SRV', records: eqiad })])],
      }),
      { dryRun: true },
    );
    expect(dry.result.outcome).toBe('dry-run');
    expect((await observeRRset(config, name, 'SRV')).records).toEqual(before.records);
    const cb = defineCookbook({
      title: 't',
      args: {},
      steps: () => [
        step('switch', [setRecordSet({ name, type: 'SRV', records: eqiad })]),
        step('fail', [fail({ why: 'boom' })]),
      ],
    });
    const { result, output } = await runAgainstLab(config, cb);
    expect(output).toMatch(
      /✓ DNS: set _etcd-client-ssl\._tcp\.conftool\.wmnet SRV to .*conf1007\.eqiad\.wmnet/,
    );
    expect(result.outcome).toBe('rolled-back');
    expect(await ttlsOn(name)).toEqual(['300', '300']);
    expect((await observeRRset(config, name, 'SRV')).records).toEqual(before.records);
  }, 60_000);
});

describe('services over SSH on the lab', () => {
  test('stopping nginx on one host is verified, and a rollback starts it again', async () => {
    const host = 'conf2006.codfw.wmnet';
    const cb = defineCookbook({
      title: 't',
      args: {},
      steps: () => [
        step('stop nginx', [ensureService({ host, unit: 'nginx', state: 'inactive' })]),
        step('fail', [fail({ why: 'boom' })]),
      ],
    });
    const { result, output } = await runAgainstLab(config, cb);
    expect(output).toContain(`${host} nginx: active → inactive`);
    expect(result.outcome).toBe('rolled-back');
    const s = await ensureService({ host, unit: 'nginx', state: 'active' }).definition.observe(
      { host, unit: 'nginx', state: 'active' },
      env,
    );
    expect(s.active).toBe('active');
    expect(await probeProxyMode(env, 'codfw', host)).toBe('read-write');
  }, 60_000);
});
