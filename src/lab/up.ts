/**
 * `lab up`: brings up the lab — six conf hosts (etcd + nginx proxy), two authdns hosts
 * (gdnsd), the bench sshd and knot — seeds the data, and writes the environment files.
 * Idempotent: a healthy lab of the same base is kept; anything else (a crashed lab, stale
 * PID files) is stopped and started afresh.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { TSIG_KEY_NAME, ensureCredentials } from './credentials.js';
import { stopLab, knotProcess } from './down.js';
import { IGNORE_KEYS_REGEX, renderEnvironmentFile } from './envfile.js';
import { LabError } from './errors.js';
import { writeAuthdnsHost, writeBenchHosts, writeConfHost, writeSpareHost } from './hostfs.js';
import { BENCH_HOST_KEY, LabLayout, assetsDir, benchGroupNames, repoRoot } from './layout.js';
import { checkPrerequisites } from './prerequisites.js';
import { currentListeners, takenListeners, type Listener } from './ports.js';
import { isRunning, readPidFile } from './processes.js';
import { renderKnotConf, renderWmnetZone } from './render.js';
import { seedData, seedKeys } from './seed.js';
import { monitoringProcesses, startMonitoring } from './monitoring.js';
import { readLabState, writeLabState } from './state.js';
import {
  ETCD_CLIENT_PORT,
  ETCD_PEER_PORT,
  labListeners,
  labTopology,
  namespacedHosts,
  spareHosts,
  type LabTopology,
} from './topology.js';

export interface LabOptions {
  /** State directory (default GALLEY_LAB_DIR or /var/lib/galley/lab). */
  dir: string;
  /** Address base `127.N` (default GALLEY_LAB_BASE or 127.20). */
  base: string;
  /** Number of bench SSH hosts (default 50). */
  benchHosts?: number;
  /** Progress lines for the operator. */
  log?: (line: string) => void;
  /** How long to wait for every component to be ready. */
  readyTimeoutMs?: number;
  /** Start afresh even when a healthy lab is up (tests want pristine data). */
  fresh?: boolean;
  /** Start the etcdmirror unit of the replica (default: START_ETCDMIRROR_ON_UP). */
  startMirror?: boolean;
}

/**
 * ETCDMIRROR SWITCH: whether `lab up` starts the replica's etcdmirror unit
 * (etcdmirror-conftool-eqiad-wmnet on conf1007.eqiad.wmnet, replicating codfw `/` into
 * eqiad `/` from /__replication/__ROOT__). Off until bin/etcdmirror.js is ready: flip it to
 * true (or pass startMirror) to switch replication on in every lab.
 */
export const START_ETCDMIRROR_ON_UP = true;

export interface LabUpResult {
  configFile: string;
  rfc2136ConfigFile: string;
  /** True when a healthy lab was already up and was kept. */
  reused: boolean;
  seconds: number;
  replicationIndex?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Listeners that must be up once the lab is ready: not the etcdmirror metrics port (the unit
 * may not be started), nor the etcd ports of the spare cluster (only etcd.bootstrap starts it).
 */
export function readyListeners(t: LabTopology): (Listener & { owner: string })[] {
  const notAtBoot = new Set(t.mirrors.map((m) => `${m.host.address}:${m.metricsPort}`));
  for (const h of spareHosts(t))
    for (const port of [ETCD_CLIENT_PORT, ETCD_PEER_PORT]) notAtBoot.add(`${h.address}:${port}`);
  return labListeners(t).filter((l) => !notAtBoot.has(`${l.address}:${l.port}`));
}

async function etcdHealthy(address: string): Promise<boolean> {
  try {
    const res = await fetch(`http://${address}:${ETCD_CLIENT_PORT}/health`, {
      signal: AbortSignal.timeout(1000),
    });
    const body = (await res.json()) as { health?: string };
    return res.ok && body.health === 'true';
  } catch {
    return false;
  }
}

/** Members of the lab's clusters that do not answer healthy on their local client URL. */
export async function unhealthyMembers(t: LabTopology): Promise<string[]> {
  const members = t.clusters.flatMap((c) => c.members);
  const ok = await Promise.all(members.map((m) => etcdHealthy(m.address)));
  return members.filter((_, i) => !ok[i]).map((m) => m.name);
}

/** Whether a lab of this topology is fully up: every host, knot, every listener, every member healthy. */
export async function labIsHealthy(layout: LabLayout, t: LabTopology): Promise<boolean> {
  const hostDirs = [...namespacedHosts(t).map((h) => h.name), ...benchGroupNames(t.bench.length)];
  if (!hostDirs.every((h) => isRunning(readPidFile(join(layout.hostDir(h), 'run', 'sshd.pid')))))
    return false;
  if (!knotProcess(layout)) return false;
  if (monitoringProcesses(layout).length !== 3) return false;
  const present = takenListeners(readyListeners(t), await currentListeners());
  if (present.length !== readyListeners(t).length) return false;
  return (await unhealthyMembers(t)).length === 0;
}

/**
 * Runs a command inside a lab host (its UTS + mount namespace, entered through its sshd's PID),
 * as if on that host; throws a LabError with the command's output when it fails.
 */
export async function runInHost(layout: LabLayout, host: string, argv: string[]): Promise<string> {
  const pid = readPidFile(join(layout.hostDir(host), 'run', 'sshd.pid'));
  if (!isRunning(pid)) throw new LabError(`lab host ${host} is not running`, ['cookbook lab up']);
  const r = await execa('nsenter', ['-t', String(pid), '-u', '-m', '--', ...argv], {
    reject: false,
    env: { PATH: HOST_PATH },
    extendEnv: false,
  });
  if (r.exitCode !== 0) {
    throw new LabError(
      `${argv.join(' ')} failed on ${host} (exit ${r.exitCode}): ${`${r.stderr}${r.stdout}`.trim().split('\n').slice(-3).join(' / ')}`,
      [`look at the host's logs under ${layout.hostDir(host)}/var-log`],
    );
  }
  return r.stdout;
}

const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function spawnDetached(command: string, args: string[], logFile: string): number {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(command, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      cwd: '/',
      env: { PATH: HOST_PATH, HOME: '/root', LANG: 'C.UTF-8' },
    });
    child.unref();
    if (child.pid === undefined) throw new LabError(`cannot start ${command}: see ${logFile}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** Boots one host: a new UTS + mount namespace running the host init script, which ends as the host's sshd. */
function bootHost(layout: LabLayout, name: string): number {
  const dir = layout.hostDir(name);
  return spawnDetached(
    'unshare',
    [
      '--uts',
      '--mount',
      '--propagation',
      'private',
      '--',
      '/bin/sh',
      join(assetsDir(), 'host-init.sh'),
      name,
      dir,
    ],
    join(dir, 'init.log'),
  );
}

async function startKnot(layout: LabLayout, t: LabTopology, zone: string, tsigSecret: string): Promise<void> {
  const dir = layout.knotDir;
  await Promise.all(['run', 'db', 'zones'].map((d) => mkdir(join(dir, d), { recursive: true })));
  const conf = join(dir, 'knot.conf');
  await writeFile(
    conf,
    renderKnotConf({ address: t.knot.address, port: t.knot.port, dir, tsigName: TSIG_KEY_NAME, tsigSecret }),
  );
  await writeFile(join(dir, 'zones', 'wmnet.zone'), zone);
  const pid = spawnDetached('knotd', ['-c', conf], join(layout.logDir, 'knotd.log'));
  await writeFile(layout.knotPidFile, `${pid}\n`);
}

async function waitReady(layout: LabLayout, t: LabTopology, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const wanted = readyListeners(t);
  let missing: (Listener & { owner: string })[] = wanted;
  let unhealthy: string[] = t.clusters.flatMap((c) => c.members.map((m) => m.name));
  while (Date.now() < deadline) {
    const present = new Set(takenListeners(wanted, await currentListeners()));
    missing = wanted.filter((w) => !present.has(w));
    if (missing.length === 0) {
      unhealthy = await unhealthyMembers(t);
      if (unhealthy.length === 0) return;
    }
    await sleep(100);
  }
  const what = missing.length
    ? `not listening: ${missing
        .slice(0, 6)
        .map((m) => `${m.address}:${m.port}/${m.proto} (${m.owner})`)
        .join(', ')}${missing.length > 6 ? ` and ${missing.length - 6} more` : ''}`
    : `etcd not healthy on ${unhealthy.join(', ')}`;
  throw new LabError(`the lab did not come up within ${Math.round(timeoutMs / 1000)} s: ${what}`, [
    `read the logs under ${layout.hostsDir}/HOST/ (init.log, boot.log, var-log/) and ${layout.logDir}`,
  ]);
}

/** Brings the lab up (see the module comment); returns where the environment files are. */
export async function labUp(o: LabOptions): Promise<LabUpResult> {
  const started = Date.now();
  const log = o.log ?? (() => {});
  checkPrerequisites();
  const layout = new LabLayout(o.dir);
  const benchHosts = o.benchHosts ?? 50;
  let t: LabTopology;
  try {
    t = labTopology(o.base, benchHosts);
  } catch (e) {
    throw new LabError((e as Error).message, ['pass --base 127.N (or set GALLEY_LAB_BASE)']);
  }
  const writeEnvironmentFiles = async () => {
    await writeFile(layout.configFile, renderEnvironmentFile(t, layout, 'zonefile'));
    await writeFile(layout.rfc2136ConfigFile, renderEnvironmentFile(t, layout, 'rfc2136'));
  };

  const previous = readLabState(layout);
  if (
    !o.fresh &&
    previous &&
    previous.base === t.base &&
    previous.benchHosts === benchHosts &&
    (await labIsHealthy(layout, t))
  ) {
    await writeEnvironmentFiles();
    log(`lab already up (base ${t.base}, since ${previous.startedAt}); kept it`);
    return {
      configFile: layout.configFile,
      rfc2136ConfigFile: layout.rfc2136ConfigFile,
      reused: true,
      seconds: (Date.now() - started) / 1000,
    };
  }

  const stale = await stopLab(layout);
  if (stale.stopped) log(`stopped ${stale.stopped} processes of an earlier lab in ${layout.dir}`);
  const taken = takenListeners(labListeners(t), await currentListeners());
  if (taken.length) {
    const first = taken[0]!;
    throw new LabError(
      `${first.address}:${first.port}/${first.proto} is already in use (needed by ${first.owner})${taken.length > 1 ? `, and ${taken.length - 1} more lab addresses` : ''}`,
      [
        `see who holds it: ss -ltnup 'src ${first.address}'`,
        'or pick another range: cookbook lab up --base 127.N',
      ],
    );
  }

  await rm(layout.hostsDir, { recursive: true, force: true });
  await rm(layout.knotDir, { recursive: true, force: true });
  await Promise.all(
    [layout.hostsDir, layout.knotDir, layout.logDir].map((d) => mkdir(d, { recursive: true })),
  );
  await rm(layout.stateFile, { force: true });

  const hostKeys = [...namespacedHosts(t).map((h) => h.name), BENCH_HOST_KEY];
  const known = [
    ...namespacedHosts(t).map((h) => ({ name: h.name, address: h.address, keyOf: h.name })),
    ...t.bench.map((h) => ({ name: h.name, address: h.address, keyOf: BENCH_HOST_KEY })),
  ];
  const secrets = await ensureCredentials(layout, hostKeys, known);
  const zone = renderWmnetZone(t, Math.floor(Date.now() / 1000));
  const confOptions = {
    nodeBinary: process.execPath,
    etcdmirrorScript: join(repoRoot(), 'bin', 'etcdmirror.js'),
    cookbookScript: join(repoRoot(), 'bin', 'run.js'),
    configFile: layout.configFile,
  };
  await Promise.all([
    ...t.clusters.flatMap((c) =>
      c.members.map((h) =>
        writeConfHost(layout, t, h, { ...confOptions, readOnly: c.datacenter !== t.master }),
      ),
    ),
    ...t.authdns.map((h) => writeAuthdnsHost(layout, t, h, zone, t.authdns[0]!.name)),
    ...spareHosts(t).map((h) => writeSpareHost(layout, t, h)),
    writeBenchHosts(layout, t),
  ]);
  log(`files ready in ${layout.dir} (${((Date.now() - started) / 1000).toFixed(1)} s); starting hosts`);

  await writeLabState(layout, { base: t.base, benchHosts, startedAt: new Date().toISOString() });
  for (const h of [...namespacedHosts(t).map((x) => x.name), ...benchGroupNames(t.bench.length)])
    bootHost(layout, h);
  await startKnot(layout, t, zone, secrets.tsigSecret);
  // Prometheus, Alertmanager and ngircd start alongside the hosts; `lab up` waits only for
  // their listeners (Prometheus answers queries while its first scrapes come in).
  await startMonitoring(layout, t, spawnDetached);
  try {
    // 30 s, and more for a big bench (63 sshd processes for 1,000 hosts on a loaded machine).
    await waitReady(layout, t, o.readyTimeoutMs ?? 30_000 + 30 * t.bench.length);
  } catch (e) {
    await stopLab(layout);
    throw e;
  }
  log(`all hosts up (${((Date.now() - started) / 1000).toFixed(1)} s); seeding data`);

  const master = t.clusters.find((c) => c.datacenter === t.master)!.members[0]!;
  const replica = t.clusters.find((c) => c.datacenter !== t.master)!.members[0]!;
  const replicationIndex = await seedData(
    `http://${master.address}:${ETCD_CLIENT_PORT}`,
    `http://${replica.address}:${ETCD_CLIENT_PORT}`,
    seedKeys(t.datacenters),
    new RegExp(IGNORE_KEYS_REGEX),
  );

  // The etcdmirror unit is always defined in its host; it is started only when switched on
  // (see START_ETCDMIRROR_ON_UP).
  if (o.startMirror ?? START_ETCDMIRROR_ON_UP) {
    const mirror = t.mirrors.find((m) => m.datacenter !== t.master)!;
    await runInHost(layout, mirror.host.name, ['systemctl', 'start', mirror.unit]);
    log(`started ${mirror.unit} on ${mirror.host.name}`);
  }

  await writeEnvironmentFiles();
  const seconds = (Date.now() - started) / 1000;
  await writeLabState(layout, {
    base: t.base,
    benchHosts,
    startedAt: new Date().toISOString(),
    upSeconds: seconds,
  });
  log(`lab up in ${seconds.toFixed(1)} s`);
  return {
    configFile: layout.configFile,
    rfc2136ConfigFile: layout.rfc2136ConfigFile,
    reused: false,
    seconds,
    replicationIndex,
  };
}
