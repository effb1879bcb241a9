/**
 * `cookbook lab reimage HOST`: the lab's stand-in for the site's reimage cookbook. It stops
 * every service of a conf host, wipes its state and data (etcd's data, logs, /run, /srv), puts
 * back the files configuration management writes (/etc/default/etcd with
 * ETCD_INITIAL_CLUSTER_STATE="existing", as for a host that rejoins), gives it a new SSH host
 * key and publishes that key in the trusted source (ssh.host_key_source, as production tooling
 * publishes known hosts), then brings the host back with its sshd and its proxy: etcd stays
 * stopped until the member is added back.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { labProcesses } from './down.js';
import { LabError } from './errors.js';
import { LabLayout } from './layout.js';
import { currentListeners, takenListeners } from './ports.js';
import { signal, waitStopped } from './processes.js';
import { etcdDataDir, renderEtcdDefault } from './render.js';
import { readLabState } from './state.js';
import { PROXY_PORT, SSH_PORT, labTopology, type LabHost } from './topology.js';
import { bootHost, runInHost } from './up.js';

export interface ReimageResult {
  host: string;
  /** The new host key's SHA256 fingerprint, as published. */
  fingerprint: string;
  seconds: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Replaces HOST's lines in a known_hosts file with one line for its new key (atomically). */
async function publishHostKey(file: string, host: LabHost, key: string): Promise<void> {
  const lines = (existsSync(file) ? readFileSync(file, 'utf8') : '')
    .split('\n')
    .filter((l) => l.trim() && !l.split(/\s+/)[0]!.split(',').includes(host.name));
  const tmp = `${file}.tmp`;
  await writeFile(tmp, [...lines, `${host.name},${host.address} ${key}`].join('\n') + '\n');
  await rename(tmp, file);
}

/** Reimages one conf host of the lab in DIR (see the module comment). */
export async function reimageLabHost(o: {
  dir: string;
  host: string;
  log?: (line: string) => void;
}): Promise<ReimageResult> {
  const started = Date.now();
  const log = o.log ?? (() => {});
  const layout = new LabLayout(o.dir);
  const state = readLabState(layout);
  if (!state) throw new LabError(`no lab in ${layout.dir}`, ['cookbook lab up --dir DIR']);
  const t = labTopology(state.base, state.benchHosts);
  const host = t.clusters.flatMap((c) => c.members).find((h) => h.name === o.host);
  if (!host)
    throw new LabError(
      `${o.host} is not a conf host of the lab in ${layout.dir}: only ${t.clusters
        .flatMap((c) => c.members)
        .map((h) => h.name)
        .join(', ')} can be reimaged`,
    );
  const dir = layout.hostDir(host.name);

  // 1. Every service of the host, as a shutdown would: through its units, then whatever is left.
  const units = (await readdir(join(dir, 'systemd')))
    .filter((f) => f.endsWith('.service') || f.endsWith('.timer'))
    .map((f) => f.replace(/\.service$/, ''));
  await runInHost(layout, host.name, ['systemctl', 'stop', ...units]).catch((e: unknown) =>
    log(`some units did not stop cleanly: ${(e as Error).message}`),
  );
  const procs = labProcesses(layout).filter((p) => p.owner === dir);
  for (const p of procs) signal(p.pid, 'SIGTERM');
  let left = await waitStopped(
    procs.map((p) => p.pid),
    3000,
  );
  for (const pid of left) signal(pid, 'SIGKILL');
  left = await waitStopped(left, 2000);
  if (left.length) throw new LabError(`${host.name}: processes ${left.join(', ')} did not stop`);
  log(`${host.name}: stopped ${units.join(', ')} and ${procs.length} processes`);

  // 2. Its state and data: a freshly installed host, with what configuration management writes.
  for (const sub of ['var-lib-etcd', 'var-log', 'run', 'srv']) {
    await rm(join(dir, sub), { recursive: true, force: true });
    await mkdir(join(dir, sub), { recursive: true });
  }
  for (const sub of [
    'run/sshd',
    'run/lab-units',
    'run/nginx-tmp',
    'var-log/etcd',
    'var-log/nginx',
    'srv/backup/etcd',
  ])
    await mkdir(join(dir, sub), { recursive: true, mode: 0o755 });
  // The data directory the etcd package and configuration management create (empty).
  await mkdir(join(dir, 'var-lib-etcd', etcdDataDir(host.datacenter).replace('/var/lib/etcd/', '')), {
    recursive: true,
    mode: 0o700,
  });
  for (const m of t.mirrors.filter((x) => x.host.name === host.name))
    await mkdir(join(dir, 'var-log', m.unit), { recursive: true });
  await writeFile(
    join(dir, 'etc-default', 'etcd'),
    renderEtcdDefault(t, host).replace(
      'ETCD_INITIAL_CLUSTER_STATE="new"',
      'ETCD_INITIAL_CLUSTER_STATE="existing"',
    ),
  );
  // etcd is not started at boot: it joins when its member is added back (etcd.member-add).
  const boot = readFileSync(join(dir, 'boot-units'), 'utf8')
    .split('\n')
    .filter((u) => u && u !== 'etcd');
  await writeFile(join(dir, 'boot-units'), boot.join('\n') + '\n');

  // 3. A new SSH host key, published in the trusted source.
  const keyFile = layout.hostKeyFile(host.name);
  await rm(keyFile, { force: true });
  await rm(`${keyFile}.pub`, { force: true });
  await execa('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    `${host.name} (reimaged)`,
    '-f',
    keyFile,
  ]);
  const pub = readFileSync(`${keyFile}.pub`, 'utf8').trim().split(/\s+/);
  const key = `${pub[0]} ${pub[1]}`;
  await publishHostKey(layout.publishedKnownHostsFile, host, key);
  const fp = (await execa('ssh-keygen', ['-l', '-f', `${keyFile}.pub`])).stdout.split(/\s+/)[1] ?? '';
  log(`${host.name}: new host key ${fp}, published in ${layout.publishedKnownHostsFile}`);

  // 4. The host back: its sshd, and the services configuration management starts (the proxy).
  bootHost(layout, host.name);
  const wanted = [
    { address: host.address, port: SSH_PORT, proto: 'tcp' as const },
    ...(boot.includes('nginx') ? [{ address: host.address, port: PROXY_PORT, proto: 'tcp' as const }] : []),
  ];
  const deadline = Date.now() + 20_000;
  while (takenListeners(wanted, await currentListeners()).length < wanted.length) {
    if (Date.now() > deadline)
      throw new LabError(`${host.name} did not come back within 20 s`, [
        `read ${dir}/init.log and ${dir}/sshd.log`,
      ]);
    await sleep(100);
  }
  log(`${host.name}: back (sshd${boot.includes('nginx') ? ', nginx' : ''}); etcd stays stopped`);
  return { host: host.name, fingerprint: fp, seconds: (Date.now() - started) / 1000 };
}
