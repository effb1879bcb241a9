/**
 * The per-host directories bind-mounted over system paths inside each lab host, with
 * their files: a host's /etc/default, /var/lib/etcd, /var/log, /run, /etc/nginx, /root,
 * /usr/local/sbin, /etc/systemd/system, /srv (and /etc/gdnsd on authdns hosts).
 */
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ETCD_USER, makeHostCertificate } from './credentials.js';
import { BENCH_GROUP_SIZE, BENCH_HOST_KEY, assetsDir, benchGroupNames, type LabLayout } from './layout.js';
import {
  BACKUP_TIMER,
  BACKUP_UNIT,
  GDNSD_UNIT,
  READ_ONLY_CONTENT,
  READ_ONLY_SWITCH_FILE,
  READ_WRITE_CONTENT,
  ZONE_SOURCE_FILE,
  renderBackupTimer,
  renderBackupUnit,
  renderEtcHosts,
  renderEtcdDefault,
  renderEtcdUnit,
  renderGdnsdConfig,
  renderGdnsdUnit,
  renderMirrorReloadScript,
  renderMirrorUnit,
  renderNginxConf,
  renderNginxUnit,
  renderSpareEtcdDefault,
  renderSshdConfig,
} from './render.js';
import type { LabHost, LabTopology } from './topology.js';

/** A host directory (relative to the host's dir) and the system path it is mounted over. */
type Mount = [string, string];

const COMMON_MOUNTS: Mount[] = [
  ['hosts', '/etc/hosts'],
  ['var-log', '/var/log'],
  ['run', '/run'],
  ['root', '/root'],
  ['sbin', '/usr/local/sbin'],
  ['systemd', '/etc/systemd/system'],
  ['srv', '/srv'],
];

async function put(file: string, content: string, mode = 0o644): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, content, { mode });
  await chmod(file, mode);
}

async function writeHostBase(
  t: LabTopology,
  dir: string,
  mounts: Mount[],
  bootUnits: string[],
  sshd: string,
): Promise<void> {
  await put(join(dir, 'hosts'), renderEtcHosts(t));
  for (const [src] of mounts) if (src !== 'hosts') await mkdir(join(dir, src), { recursive: true });
  await put(join(dir, 'mounts'), mounts.map(([s, d]) => `${s} ${d}`).join('\n') + '\n');
  await put(join(dir, 'boot-units'), bootUnits.join('\n') + (bootUnits.length ? '\n' : ''));
  await put(join(dir, 'sshd_config'), sshd);
  await mkdir(join(dir, 'run', 'sshd'), { recursive: true, mode: 0o755 });
  await mkdir(join(dir, 'run', 'lab-units'), { recursive: true });
  // An empty .bashrc: commands over SSH do not pay for the machine's root profile (pyenv).
  await put(join(dir, 'root', '.bashrc'), '');
  await put(join(dir, 'root', '.profile'), '');
}

async function installSystemctl(dir: string): Promise<void> {
  await copyFile(join(assetsDir(), 'systemctl'), join(dir, 'sbin', 'systemctl'));
  await chmod(join(dir, 'sbin', 'systemctl'), 0o755);
}

function sshdFor(layout: LabLayout, host: LabHost): string {
  return renderSshdConfig({
    listen: [host.address],
    hostKey: layout.hostKeyFile(host.name),
    authorizedKeys: layout.authorizedKeysFile,
  });
}

export interface ConfHostOptions {
  readOnly: boolean;
  nodeBinary: string;
  etcdmirrorScript: string;
  /** bin/run.js and the lab's environment file, for the nightly backup unit. */
  cookbookScript: string;
  configFile: string;
}

/** Writes a conf host: etcd's /etc/default/etcd, nginx with its certificate and switch, the units. */
export async function writeConfHost(
  layout: LabLayout,
  t: LabTopology,
  host: LabHost,
  o: ConfHostOptions,
): Promise<void> {
  const dir = layout.hostDir(host.name);
  const mounts: Mount[] = [
    ['etc-default', '/etc/default'],
    ['var-lib-etcd', '/var/lib/etcd'],
    ['etc-nginx', '/etc/nginx'],
    ...COMMON_MOUNTS,
  ];
  // The first member of each cluster backs it up every night (the timer starts at boot).
  const cluster = t.clusters.find((c) => c.members[0]?.name === host.name);
  await writeHostBase(
    t,
    dir,
    mounts,
    ['etcd', 'nginx', ...(cluster ? [BACKUP_TIMER] : [])],
    sshdFor(layout, host),
  );
  await installSystemctl(dir);
  await put(join(dir, 'etc-default', 'etcd'), renderEtcdDefault(t, host));
  if (cluster) {
    await put(
      join(dir, 'systemd', `${BACKUP_UNIT}.service`),
      renderBackupUnit(cluster.datacenter, o.nodeBinary, o.cookbookScript, o.configFile),
    );
    await put(join(dir, 'systemd', BACKUP_TIMER), renderBackupTimer());
  }
  await mkdir(join(dir, 'var-log', 'etcd'), { recursive: true });
  await mkdir(join(dir, 'var-log', 'nginx'), { recursive: true });
  await mkdir(join(dir, 'run', 'nginx-tmp'), { recursive: true });
  await mkdir(join(dir, 'srv', 'backup', 'etcd'), { recursive: true });
  const nginx = join(dir, 'etc-nginx');
  await put(join(nginx, 'nginx.conf'), renderNginxConf(host));
  await put(
    join(nginx, READ_ONLY_SWITCH_FILE.replace('/etc/nginx/', '')),
    o.readOnly ? READ_ONLY_CONTENT : READ_WRITE_CONTENT,
  );
  await copyFile(layout.htpasswdFile, join(nginx, 'etcd.htpasswd'));
  await mkdir(join(nginx, 'ssl'), { recursive: true, mode: 0o700 });
  await makeHostCertificate(layout, host, join(nginx, 'ssl'));
  await put(join(dir, 'systemd', 'etcd.service'), renderEtcdUnit(host));
  await put(join(dir, 'systemd', 'nginx.service'), renderNginxUnit(host));
  for (const m of t.mirrors.filter((x) => x.host.name === host.name)) {
    await put(
      join(dir, 'systemd', `${m.unit}.service`),
      renderMirrorUnit(t, m, o.nodeBinary, o.etcdmirrorScript),
    );
    await put(
      join(dir, 'sbin', 'reload-etcdmirror'),
      renderMirrorReloadScript(t, m, o.nodeBinary, o.etcdmirrorScript),
      0o755,
    );
    await mkdir(join(dir, 'var-log', m.unit), { recursive: true });
  }
}

/**
 * Writes a host of a spare cluster: etcd installed and configured (its unit, /etc/default/etcd
 * listing every member with state new), nothing started at boot, no proxy. Only its sshd runs.
 */
export async function writeSpareHost(layout: LabLayout, t: LabTopology, host: LabHost): Promise<void> {
  const cluster = t.spareClusters.find((c) => c.members.some((m) => m.name === host.name));
  if (!cluster) throw new Error(`${host.name} is not a member of a spare cluster`);
  const dir = layout.hostDir(host.name);
  const mounts: Mount[] = [
    ['etc-default', '/etc/default'],
    ['var-lib-etcd', '/var/lib/etcd'],
    ...COMMON_MOUNTS,
  ];
  await writeHostBase(t, dir, mounts, [], sshdFor(layout, host));
  await installSystemctl(dir);
  await put(join(dir, 'etc-default', 'etcd'), renderSpareEtcdDefault(cluster, host));
  await mkdir(join(dir, 'var-lib-etcd'), { recursive: true });
  await mkdir(join(dir, 'var-log', 'etcd'), { recursive: true });
  await mkdir(join(dir, 'srv', 'backup', 'etcd'), { recursive: true });
  await put(join(dir, 'systemd', 'etcd.service'), renderEtcdUnit(host));
}

/**
 * Writes an authdns host: gdnsd's config and zones, authdns-update with its server list,
 * and (on `zoneSourceHost`) the zone's source of truth under /srv/authdns/git/zones.
 */
export async function writeAuthdnsHost(
  layout: LabLayout,
  t: LabTopology,
  host: LabHost,
  zone: string,
  zoneSourceHost: string,
): Promise<void> {
  const dir = layout.hostDir(host.name);
  const mounts: Mount[] = [['etc-gdnsd', '/etc/gdnsd'], ...COMMON_MOUNTS];
  await writeHostBase(t, dir, mounts, [GDNSD_UNIT], sshdFor(layout, host));
  await installSystemctl(dir);
  await copyFile(join(assetsDir(), 'authdns-update'), join(dir, 'sbin', 'authdns-update'));
  await chmod(join(dir, 'sbin', 'authdns-update'), 0o755);
  await put(join(dir, 'etc-gdnsd', 'config'), renderGdnsdConfig(host));
  await put(join(dir, 'etc-gdnsd', 'zones', 'wmnet'), zone);
  await mkdir(join(dir, 'run', 'gdnsd'), { recursive: true });
  await mkdir(join(dir, 'run', 'gdnsd-state'), { recursive: true });
  await put(join(dir, 'systemd', `${GDNSD_UNIT}.service`), renderGdnsdUnit(host));
  await put(
    join(dir, 'srv', 'authdns', 'servers'),
    t.authdns.map((h) => `${h.name} ${h.address}`).join('\n') + '\n',
  );
  if (host.name === zoneSourceHost) await put(join(dir, 'srv', ZONE_SOURCE_FILE.replace('/srv/', '')), zone);
  await mkdir(join(dir, 'root', '.ssh'), { recursive: true, mode: 0o700 });
  await copyFile(layout.sshKeyFile, join(dir, 'root', '.ssh', 'id_ed25519'));
  await chmod(join(dir, 'root', '.ssh', 'id_ed25519'), 0o600);
  await copyFile(layout.knownHostsFile, join(dir, 'root', '.ssh', 'known_hosts'));
}

/** Writes the namespaces of the bench hosts: one sshd per group of 16 bench addresses, one shared host key. */
export async function writeBenchHosts(layout: LabLayout, t: LabTopology): Promise<void> {
  const mounts: Mount[] = [
    ['hosts', '/etc/hosts'],
    ['run', '/run'],
    ['root', '/root'],
  ];
  await Promise.all(
    benchGroupNames(t.bench.length).map((group, i) =>
      writeHostBase(
        t,
        layout.hostDir(group),
        mounts,
        [],
        renderSshdConfig({
          listen: t.bench.slice(i * BENCH_GROUP_SIZE, (i + 1) * BENCH_GROUP_SIZE).map((h) => h.address),
          hostKey: layout.hostKeyFile(BENCH_HOST_KEY),
          authorizedKeys: layout.authorizedKeysFile,
          maxStartups: '200:30:400',
        }),
      ),
    ),
  );
}

/** The user of the proxy's basic auth (re-exported for the environment file). */
export const PROXY_USER = ETCD_USER;
