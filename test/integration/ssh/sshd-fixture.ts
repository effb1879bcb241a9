import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * A real OpenSSH server for the SSH transport's integration tests, in this area's own
 * loopback range (127.30.x): key-only, its own host key, and run in a private mount
 * namespace where root's .bashrc is empty and `systemctl` is a small stand-in (no systemd here).
 */
export interface SshdFixture {
  dir: string;
  /** The environment file describing the hosts (t1…tN.ssh.test, one on port 2222). */
  configFile: string;
  keyFile: string;
  knownHostsFile: string;
  hostKeyPub: string;
  /** A second host key, never served: known_hosts lines with it simulate a changed key. */
  otherHostKeyPub: string;
  hosts: { name: string; address: string; port: number }[];
  /** Writes another environment file with a different known_hosts (returns its path). */
  withKnownHosts(name: string, knownHosts: string): string;
  stop(): Promise<void>;
}

const SYSTEMCTL_STAND_IN = `#!/bin/sh
# systemctl stand-in for tests: unit state is a file per unit.
state=/tmp/galley-ssh-it-units
mkdir -p "$state"
action="$1"; unit="$2"
[ -n "$unit" ] || { echo "usage: systemctl ACTION UNIT" >&2; exit 2; }
case "$action" in
  start|restart) touch "$state/$unit" ;;
  stop) rm -f "$state/$unit" ;;
  is-active) if [ -e "$state/$unit" ]; then echo active; else echo inactive; exit 3; fi ;;
  status) if [ -e "$state/$unit" ]; then echo "$unit: active (running)"; else echo "$unit: inactive (dead)"; exit 3; fi ;;
  *) echo "unsupported action $action" >&2; exit 2 ;;
esac
`;

function keygen(file: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'galley-ssh-it', '-f', file]);
  return readFileSync(`${file}.pub`, 'utf8').trim();
}

async function waitForPort(address: string, port: number, deadlineMs: number): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: address, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`sshd did not listen on ${address}:${port}`);
    await delay(50);
  }
}

/** Starts sshd listening on 127.30.0.1…N:22 and 127.30.0.(N+1):2222. */
export async function startSshd(count = 4): Promise<SshdFixture> {
  const dir = mkdtempSync('/tmp/galley-ssh-it-');
  chmodSync(dir, 0o755);
  const hostKeyPub = keygen(join(dir, 'host_ed25519'));
  const otherHostKeyPub = keygen(join(dir, 'other_host_ed25519'));
  const clientPub = keygen(join(dir, 'client_ed25519'));
  writeFileSync(join(dir, 'authorized_keys'), `${clientPub}\n`);
  writeFileSync(join(dir, 'empty_bashrc'), '');
  writeFileSync(join(dir, 'systemctl'), SYSTEMCTL_STAND_IN, { mode: 0o755 });
  rmSync('/tmp/galley-ssh-it-units', { recursive: true, force: true });

  const hosts = Array.from({ length: count }, (_, i) => ({
    name: `t${i + 1}.ssh.test`,
    address: `127.30.0.${i + 1}`,
    port: 22,
  }));
  hosts.push({ name: `t${count + 1}.ssh.test`, address: `127.30.0.${count + 1}`, port: 2222 });
  const sshdConfig = [
    ...hosts.map((h) => `ListenAddress ${h.address}:${h.port}`),
    `HostKey ${join(dir, 'host_ed25519')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'AuthenticationMethods publickey',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'UsePAM no',
    'StrictModes no',
    'KexAlgorithms curve25519-sha256,ecdh-sha2-nistp256',
    'MaxStartups 200',
    'MaxSessions 50',
    'PrintMotd no',
    process.env.SSHD_LOGLEVEL ? `LogLevel ${process.env.SSHD_LOGLEVEL}` : 'LogLevel ERROR',
  ].join('\n');
  const configPath = join(dir, 'sshd_config');
  writeFileSync(configPath, `${sshdConfig}\n`);
  mkdirSync('/run/sshd', { recursive: true });

  const script = [
    `mount --bind ${join(dir, 'empty_bashrc')} /root/.bashrc`,
    `mount --bind ${join(dir, 'systemctl')} /usr/bin/systemctl`,
    `exec /usr/sbin/sshd -D -E ${join(dir, 'sshd.log')} -f ${configPath}`,
  ].join(' && ');
  const child: ChildProcess = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    for (const h of hosts) await waitForPort(h.address, h.port, 5000);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}: ${stderr}`);
  }

  const [type, key] = hostKeyPub.split(' ');
  const knownHosts = [
    ...hosts,
    { name: 'down.ssh.test', address: '127.30.0.99', port: 22 },
    { name: 'mute.ssh.test', address: '127.30.0.98', port: 22 },
  ]
    .map((h) => `${h.port === 22 ? h.address : `[${h.address}]:${h.port}`} ${type} ${key}`)
    .join('\n');
  const knownHostsFile = join(dir, 'known_hosts');
  writeFileSync(knownHostsFile, `${knownHosts}\n`);
  const keyFile = join(dir, 'client_ed25519');

  const envFile = (knownHostsPath: string) =>
    [
      'name: ssh-it',
      'datacenters: [lab]',
      'hosts:',
      ...hosts.map((h) => `  ${h.name}: {address: ${h.address}, datacenter: lab, ssh_port: ${h.port}}`),
      '  down.ssh.test: {address: 127.30.0.99, datacenter: lab}',
      '  mute.ssh.test: {address: 127.30.0.98, datacenter: lab}',
      'aliases:',
      `  all: "t[1-${count}].ssh.test"`,
      '  first-two: "t1.ssh.test,t2.ssh.test"',
      '  nested: "A:first-two,t3.ssh.test"',
      'ssh:',
      '  user: root',
      `  key_file: ${keyFile}`,
      `  known_hosts: ${knownHostsPath}`,
      '  connect_timeout: 2s',
      '  command_timeout: 20s',
      'etcd:',
      '  clusters: {}',
      '',
    ].join('\n');
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, envFile(knownHostsFile));

  return {
    dir,
    configFile,
    keyFile,
    knownHostsFile,
    hostKeyPub,
    otherHostKeyPub,
    hosts,
    withKnownHosts(name: string, text: string): string {
      const kh = join(dir, `known_hosts.${name}`);
      writeFileSync(kh, text);
      const file = join(dir, `config.${name}.yaml`);
      writeFileSync(file, envFile(kh));
      return file;
    },
    async stop(): Promise<void> {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, delay(2000, undefined, { ref: false })]);
      }
      // Session processes inherit sshd's stderr: let go of it so that nothing keeps jest alive.
      child.stderr?.destroy();
      child.unref();
      rmSync(dir, { recursive: true, force: true });
      rmSync('/tmp/galley-ssh-it-units', { recursive: true, force: true });
    },
  };
}
