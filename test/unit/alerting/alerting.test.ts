import { describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import {
  formatMatcher,
  matchesAll,
  parseMatcher,
  promSelector,
  sameMatchers,
} from '../../../src/alerting/index.js';
import {
  replicationAlertMatchers,
  silenceAlerts,
  expireSilence,
  silenceComment,
} from '../../../src/actions/alerting.js';
import { parseConfig } from '../../../src/config/schema.js';
import { renderAlertRules, renderPrometheusConfig } from '../../../src/lab/monitoring.js';
import { labTopology } from '../../../src/lab/topology.js';

describe('matchers', () => {
  test('parse and format the four operators', () => {
    for (const text of [
      'alertname="EtcdReplicationDown"',
      'host=~"conf1.*"',
      'severity!="page"',
      'dc!~"esams|ulsfo"',
    ])
      expect(formatMatcher(parseMatcher(text))).toBe(text);
    expect(parseMatcher('host=conf1007')).toEqual({
      name: 'host',
      value: 'conf1007',
      isRegex: false,
      isEqual: true,
    });
    expect(() => parseMatcher('not a matcher')).toThrow(/is not a matcher/);
  });

  test('regexes are anchored like Prometheus and Alertmanager', () => {
    const m = replicationAlertMatchers(['eqiad', 'codfw']);
    expect(matchesAll({ alertname: 'EtcdReplicationDown', datacenter: 'eqiad' }, m)).toBe(true);
    expect(matchesAll({ alertname: 'EtcdReplicationDownX', datacenter: 'eqiad' }, m)).toBe(false);
    expect(matchesAll({ alertname: 'EtcdReplicationLag', datacenter: 'esams' }, m)).toBe(false);
    expect(promSelector(m)).toBe('{alertname=~"EtcdReplication(Down|Lag)",datacenter=~"eqiad|codfw"}');
    expect(sameMatchers(m, [...m].reverse())).toBe(true);
    expect(sameMatchers(m, m.slice(1))).toBe(false);
  });
});

describe('silence actions', () => {
  const p = {
    key: 'etcd replication',
    matchers: replicationAlertMatchers(['eqiad', 'codfw']),
    durationMs: 7_200_000,
    comment: 'etcd.switchover codfw → eqiad',
  };
  test('a silence is planned when none is active, and already done when one is', () => {
    expect(silenceAlerts(p).definition.plan(p, { active: [] })).toEqual([
      { subject: expect.stringContaining('Alertmanager silence'), from: 'none', to: 'active for 2h' },
    ]);
    expect(
      silenceAlerts(p).definition.plan(p, {
        active: [{ id: 'x', endsAt: '', createdBy: 'a@b', comment: '' }],
      }),
    ).toEqual([]);
    expect(expireSilence(p).definition.plan(p, { active: [] })).toEqual([]);
    expect(
      expireSilence(p).definition.plan(p, {
        active: [{ id: 'x', endsAt: '', createdBy: 'a@b', comment: '' }],
      }),
    ).toEqual([expect.objectContaining({ from: 'active', to: 'expired' })]);
  });

  test("the comment carries the task, the reason, the run and the silence's key", () => {
    expect(
      silenceComment('etcd.switchover codfw → eqiad', 'etcd replication', {
        id: 'R1',
        user: 'alice',
        host: 'h',
        task: 'T1',
        reason: 'DC switch',
      }),
    ).toBe('etcd.switchover codfw → eqiad - T1 - DC switch - run R1 [galley:etcd replication]');
  });
});

describe('the lab monitoring', () => {
  test('Prometheus scrapes every etcd member and both etcdmirror units, labelled by host and datacenter', () => {
    const cfg = parse(renderPrometheusConfig(labTopology('127.44', 0), '/r.yml')) as {
      scrape_configs: {
        job_name: string;
        static_configs: { targets: string[]; labels: Record<string, string> }[];
      }[];
    };
    const etcd = cfg.scrape_configs.find((j) => j.job_name === 'etcd')!.static_configs;
    expect(etcd.map((s) => s.targets[0])).toHaveLength(6);
    expect(etcd[0]).toEqual({
      targets: ['127.44.1.7:2379'],
      labels: { host: 'conf1007.eqiad.wmnet', datacenter: 'eqiad', cluster: 'eqiad' },
    });
    expect(
      cfg.scrape_configs
        .find((j) => j.job_name === 'etcdmirror')!
        .static_configs.map((s) => s.labels.datacenter),
    ).toEqual(['eqiad', 'codfw']);
  });

  test('the rules alert on replication down, replication lag and a member down', () => {
    const rules = parse(renderAlertRules()) as { groups: { rules: { alert: string; for: string }[] }[] };
    expect(rules.groups[0]!.rules.map((r) => `${r.alert} ${r.for}`)).toEqual([
      'EtcdReplicationDown 3s',
      'EtcdReplicationLag 5s',
      'EtcdMemberDown 2s',
    ]);
  });
});

describe('the alerting, announce and review sections', () => {
  const base = { datacenters: ['eqiad'], hosts: {}, ssh: { known_hosts: '/kh' }, etcd: { clusters: {} } };
  test('parse with their defaults', () => {
    const { config, problems } = parseConfig(
      {
        ...base,
        alerting: { alertmanager_url: 'http://127.0.0.1:9093/', prometheus_url: 'http://127.0.0.1:9090' },
        announce: {
          syslog: true,
          webhook: { url: 'http://127.0.0.1:8080/sal' },
          irc: { server: '127.0.0.1', channel: '#sal' },
          waiting_for_input_after: '10m',
        },
        review: { required: ['etcd.switchover'] },
      },
      '/x.yaml',
    );
    expect(problems).toEqual([]);
    expect(config?.alerting).toEqual({
      alertmanagerUrl: 'http://127.0.0.1:9093',
      prometheusUrl: 'http://127.0.0.1:9090',
      requestTimeoutMs: 5000,
      silenceDurationMs: 7_200_000,
    });
    expect(config?.announce).toEqual({
      auditFile: true,
      syslog: { socket: '/dev/log', tag: 'galley', facility: 'user' },
      webhook: { url: 'http://127.0.0.1:8080/sal', timeoutMs: 3000 },
      irc: { server: '127.0.0.1', port: 6667, channel: '#sal', nick: 'galley', timeoutMs: 5000 },
      waitingForInputAfterMs: 600_000,
    });
    expect(config?.review).toEqual({ required: ['etcd.switchover'] });
  });

  test('bad values are reported with their path', () => {
    const { problems } = parseConfig(
      {
        ...base,
        alerting: { alertmanager_url: 'am:9093', prometheus_url: 'http://p' },
        announce: {
          irc: { server: 's', channel: 'sal', nick: '9x' },
          webhook: { url: 'http://w', timeout: 'soon' },
        },
        review: { required: 'some' },
      },
      '/x.yaml',
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'alerting.alertmanager_url: "am:9093" is not an http:// or https:// URL',
        expect.stringMatching(/^announce\.irc\.channel: "sal" is not an IRC channel/),
        expect.stringMatching(/^announce\.irc\.nick: "9x" is not a valid IRC nick/),
        expect.stringMatching(/^announce\.webhook\.timeout: /),
        expect.stringMatching(/^review\.required: give "all" or a list/),
      ]),
    );
  });
});
