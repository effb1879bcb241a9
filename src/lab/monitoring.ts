/**
 * The lab's monitoring and announcement servers, outside the hosts (like knot): Prometheus
 * scraping every etcd member and both etcdmirror units with the replication and member
 * alerts, Alertmanager receiving them, and an IRC server (ngircd) for the announcements.
 * Each runs from its own directory under the lab's, is started detached with a PID file and
 * stopped by PID by `lab down`. Intervals are short (1 s) so that alerts fire in seconds.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { LabLayout } from './layout.js';
import { processName, processState, readPidFile } from './processes.js';
import { ETCD_CLIENT_PORT, type LabTopology } from './topology.js';

/** How often Prometheus scrapes and evaluates rules in the lab (production uses 15-60 s). */
export const LAB_SCRAPE_INTERVAL = '1s';
/** How long each alert's condition must hold before it fires (the rules' `for:`). */
export const LAB_ALERT_FOR_SECONDS = {
  EtcdReplicationDown: 3,
  EtcdReplicationLag: 5,
  EtcdMemberDown: 2,
} as const;
/** Lag, in source events, above which EtcdReplicationLag fires. */
export const LAB_LAG_THRESHOLD_EVENTS = 500;

export type MonitoringComponent = 'prometheus' | 'alertmanager' | 'ngircd';
export const MONITORING_COMPONENTS: readonly MonitoringComponent[] = ['prometheus', 'alertmanager', 'ngircd'];

/** The binary of each component and the process name /proc shows for it. */
const BINARY: Record<MonitoringComponent, { path: string; comm: string }> = {
  prometheus: { path: '/usr/bin/prometheus', comm: 'prometheus' },
  alertmanager: { path: '/usr/bin/prometheus-alertmanager', comm: 'prometheus-aler' },
  ngircd: { path: '/usr/sbin/ngircd', comm: 'ngircd' },
};

export function monitoringDir(layout: LabLayout): string {
  return join(layout.dir, 'monitoring');
}

export function monitoringPidFile(layout: LabLayout, c: MonitoringComponent): string {
  return join(monitoringDir(layout), `${c}.pid`);
}

/** prometheus.yml: every etcd member (job etcd) and both etcdmirror units (job etcdmirror), labelled by host and datacenter. */
export function renderPrometheusConfig(t: LabTopology, rulesFile: string): string {
  const m = t.monitoring;
  const etcdTargets = t.clusters.flatMap((c) =>
    c.members.map((h) => ({
      targets: [`${h.address}:${ETCD_CLIENT_PORT}`],
      labels: { host: h.name, datacenter: c.datacenter, cluster: c.datacenter },
    })),
  );
  const mirrorTargets = t.mirrors.map((u) => ({
    targets: [`${u.host.address}:${u.metricsPort}`],
    labels: { host: u.host.name, datacenter: u.datacenter, unit: u.unit },
  }));
  return stringify(
    {
      global: {
        scrape_interval: LAB_SCRAPE_INTERVAL,
        scrape_timeout: LAB_SCRAPE_INTERVAL,
        evaluation_interval: LAB_SCRAPE_INTERVAL,
      },
      rule_files: [rulesFile],
      alerting: {
        alertmanagers: [
          { static_configs: [{ targets: [`${m.alertmanager.address}:${m.alertmanager.port}`] }] },
        ],
      },
      scrape_configs: [
        { job_name: 'etcd', static_configs: etcdTargets },
        { job_name: 'etcdmirror', static_configs: mirrorTargets },
      ],
    },
    { lineWidth: 0 },
  );
}

/**
 * The alert rules. Only one etcdmirror runs at a time (into the replica), so replication is
 * down when no unit replicates: then every unit's series fires, each with its datacenter.
 */
export function renderAlertRules(): string {
  const f = LAB_ALERT_FOR_SECONDS;
  return stringify(
    {
      groups: [
        {
          name: 'etcd',
          interval: LAB_SCRAPE_INTERVAL,
          rules: [
            {
              alert: 'EtcdReplicationDown',
              expr: '(up{job="etcdmirror"} == 0 or etcdmirror_up == 0) unless on() (max(etcdmirror_up) >= 1)',
              for: `${f.EtcdReplicationDown}s`,
              labels: { severity: 'critical', team: 'sre' },
              annotations: { summary: 'etcd replication is down: no etcdmirror replicates into the replica' },
            },
            {
              alert: 'EtcdReplicationLag',
              expr: `etcdmirror_lag_events > ${LAB_LAG_THRESHOLD_EVENTS}`,
              for: `${f.EtcdReplicationLag}s`,
              labels: { severity: 'critical', team: 'sre' },
              annotations: { summary: 'etcdmirror on {{ $labels.host }} is {{ $value }} events behind' },
            },
            {
              alert: 'EtcdMemberDown',
              expr: 'up{job="etcd"} == 0',
              for: `${f.EtcdMemberDown}s`,
              labels: { severity: 'warning', team: 'sre' },
              annotations: { summary: 'etcd member {{ $labels.host }} does not answer' },
            },
          ],
        },
      ],
    },
    { lineWidth: 0 },
  );
}

/** alertmanager.yml: one receiver that goes nowhere (the lab looks at alerts and silences through the API). */
export function renderAlertmanagerConfig(): string {
  return stringify({
    route: {
      receiver: 'lab-null',
      group_by: ['alertname', 'datacenter'],
      group_wait: '1s',
      group_interval: '1s',
      repeat_interval: '1h',
    },
    receivers: [{ name: 'lab-null' }],
  });
}

/** ngircd.conf: a single server on the lab's address, no DNS or ident look-ups (they would delay every login). */
export function renderNgircdConfig(t: LabTopology, dir: string): string {
  const irc = t.monitoring.irc;
  return [
    '[Global]',
    '  Name = irc.lab.wmnet',
    '  Info = Galley lab IRC server',
    `  Listen = ${irc.address}`,
    `  Ports = ${irc.port}`,
    `  PidFile = ${join(dir, 'ngircd.own.pid')}`,
    '  MotdPhrase = "Galley lab"',
    '  ServerUID = 0',
    '  ServerGID = 0',
    '[Limits]',
    '  MaxConnectionsIP = 0',
    '  MaxJoins = 0',
    '  MaxNickLength = 16',
    '  PingTimeout = 120',
    '[Options]',
    '  DNS = no',
    '  Ident = no',
    '  PAM = no',
    '  OperCanUseMode = yes',
    '',
  ].join('\n');
}

/** The argv of each component, reading its files from `dir`. */
export function monitoringCommands(t: LabTopology, dir: string): Record<MonitoringComponent, string[]> {
  const m = t.monitoring;
  return {
    prometheus: [
      BINARY.prometheus.path,
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'prometheus-data')}`,
      '--storage.tsdb.retention.time=2h',
      `--web.listen-address=${m.prometheus.address}:${m.prometheus.port}`,
      '--log.level=warn',
    ],
    alertmanager: [
      BINARY.alertmanager.path,
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'alertmanager-data')}`,
      `--web.listen-address=${m.alertmanager.address}:${m.alertmanager.port}`,
      // No gossip: a lone Alertmanager would otherwise listen on 0.0.0.0:9094.
      '--cluster.listen-address=',
      '--data.retention=2h',
      '--log.level=warn',
    ],
    ngircd: [BINARY.ngircd.path, '--nodaemon', '--config', join(dir, 'ngircd.conf')],
  };
}

/** Writes every config file (fresh data directories: a lab starts with no alerts or silences). */
export async function writeMonitoringFiles(layout: LabLayout, t: LabTopology): Promise<string> {
  const dir = monitoringDir(layout);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const rules = join(dir, 'rules.yml');
  await Promise.all([
    writeFile(rules, renderAlertRules()),
    writeFile(join(dir, 'prometheus.yml'), renderPrometheusConfig(t, rules)),
    writeFile(join(dir, 'alertmanager.yml'), renderAlertmanagerConfig()),
    writeFile(join(dir, 'ngircd.conf'), renderNgircdConfig(t, dir)),
  ]);
  return dir;
}

/**
 * The live process of a component, if its PID file names a process of the right binary
 * started from this lab's directory (so a PID reused by someone else is never ours).
 */
export function monitoringProcess(
  layout: LabLayout,
  c: MonitoringComponent,
): { pid: number; name: string; owner: string } | undefined {
  const pid = readPidFile(monitoringPidFile(layout, c));
  if (pid === undefined || processState(pid) !== 'running' || processName(pid) !== BINARY[c].comm)
    return undefined;
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
  return cmdline.includes(monitoringDir(layout)) ? { pid, name: BINARY[c].comm, owner: c } : undefined;
}

/** Every live monitoring process of the lab. */
export function monitoringProcesses(layout: LabLayout): { pid: number; name: string; owner: string }[] {
  return MONITORING_COMPONENTS.map((c) => monitoringProcess(layout, c)).filter((p) => p !== undefined);
}

/** Starts the three components detached (`spawn` is the lab's detached spawner); writes their PID files. */
export async function startMonitoring(
  layout: LabLayout,
  t: LabTopology,
  spawn: (command: string, args: string[], logFile: string) => number,
): Promise<void> {
  const dir = await writeMonitoringFiles(layout, t);
  const commands = monitoringCommands(t, dir);
  for (const c of MONITORING_COMPONENTS) {
    const [cmd, ...args] = commands[c];
    const pid = spawn(cmd!, args, join(layout.logDir, `${c}.log`));
    await writeFile(monitoringPidFile(layout, c), `${pid}\n`);
  }
}

/** The URLs of the lab's monitoring, for the environment file and `lab status`. */
export function monitoringUrls(t: LabTopology): { prometheus: string; alertmanager: string; irc: string } {
  const m = t.monitoring;
  return {
    prometheus: `http://${m.prometheus.address}:${m.prometheus.port}`,
    alertmanager: `http://${m.alertmanager.address}:${m.alertmanager.port}`,
    irc: `irc://${m.irc.address}:${m.irc.port}/${m.irc.channel}`,
  };
}
