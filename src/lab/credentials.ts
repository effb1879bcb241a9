/**
 * The lab's credentials: a CA and per-host certificates (openssl), the proxy's basic-auth
 * password and htpasswd, the TSIG secret, and SSH keys with a known_hosts file. Long-lived
 * material (CA, passwords, keys) is kept across runs; certificates are made afresh.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { LabLayout } from './layout.js';
import { renderHtpasswd } from './render.js';
import type { LabHost } from './topology.js';

export const ETCD_USER = 'root';
export const TSIG_KEY_NAME = 'galley-lab';

async function ensureCa(layout: LabLayout): Promise<void> {
  if (existsSync(layout.caFile) && existsSync(layout.caKeyFile)) return;
  await execa('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    layout.caKeyFile,
    '-out',
    layout.caFile,
    '-days',
    '3650',
    '-subj',
    '/CN=Galley lab CA',
  ]);
}

/** Makes `dir/NAME.crt` and `dir/NAME.key`, signed by the lab CA, naming the host and its address. */
export async function makeHostCertificate(layout: LabLayout, host: LabHost, dir: string): Promise<void> {
  const key = join(dir, `${host.name}.key`);
  const csr = join(dir, `${host.name}.csr`);
  const ext = join(dir, `${host.name}.ext`);
  await writeFile(
    ext,
    `subjectAltName=DNS:${host.name},IP:${host.address}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n`,
  );
  await execa('openssl', [
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    `/CN=${host.name}`,
  ]);
  await execa('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    layout.caFile,
    '-CAkey',
    layout.caKeyFile,
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-days',
    '3650',
    '-out',
    join(dir, `${host.name}.crt`),
    '-extfile',
    ext,
  ]);
}

async function ensureSecretFile(file: string, make: () => string): Promise<string> {
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const v = make();
  await writeFile(file, `${v}\n`, { mode: 0o600 });
  return v;
}

async function ensureSshKey(file: string, comment: string): Promise<void> {
  if (existsSync(file) && existsSync(`${file}.pub`)) return;
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
}

export interface LabSecrets {
  password: string;
  tsigSecret: string;
}

/**
 * Makes (or keeps) the CA, the password with its htpasswd, the TSIG secret, the SSH client
 * key, one host key per SSH host (`sshHosts`), authorized_keys and known_hosts (`knownHosts`:
 * each inventory host with the host key it presents).
 */
export async function ensureCredentials(
  layout: LabLayout,
  sshHosts: string[],
  knownHosts: { name: string; address: string; keyOf: string }[],
): Promise<LabSecrets> {
  await mkdir(layout.pkiDir, { recursive: true, mode: 0o700 });
  await mkdir(join(layout.sshDir, 'hostkeys'), { recursive: true, mode: 0o700 });
  const password = await ensureSecretFile(layout.passwordFile, () => randomBytes(18).toString('base64url'));
  const tsigSecret = await ensureSecretFile(layout.tsigSecretFile, () => randomBytes(32).toString('base64'));
  await Promise.all([
    ensureCa(layout),
    ensureSshKey(layout.sshKeyFile, 'galley-lab'),
    ...sshHosts.map((h) => ensureSshKey(layout.hostKeyFile(h), h)),
    (async () => {
      const { stdout } = await execa('openssl', ['passwd', '-apr1', '-stdin'], { input: password });
      await writeFile(layout.htpasswdFile, renderHtpasswd(ETCD_USER, stdout), { mode: 0o644 });
    })(),
  ]);
  await writeFile(layout.authorizedKeysFile, await readFile(`${layout.sshKeyFile}.pub`, 'utf8'));
  const hostKeys = new Map<string, string>();
  for (const h of sshHosts) {
    const pub = (await readFile(`${layout.hostKeyFile(h)}.pub`, 'utf8')).trim().split(/\s+/);
    hostKeys.set(h, `${pub[0]} ${pub[1]}`);
  }
  const lines = knownHosts.map((k) => `${k.name},${k.address} ${hostKeys.get(k.keyOf) ?? ''}`);
  await writeFile(layout.knownHostsFile, lines.join('\n') + '\n');
  return { password, tsigSecret };
}
