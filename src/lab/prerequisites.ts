/**
 * What the lab needs from the machine: root, and the Debian packages of its components.
 */
import { accessSync, constants } from 'node:fs';
import { LabError } from './errors.js';

/** Binaries the lab runs, with the Debian package that ships each. */
export const REQUIRED_BINARIES: readonly { path: string; pkg: string }[] = [
  { path: '/usr/bin/etcd', pkg: 'etcd-server' },
  { path: '/usr/bin/etcdctl', pkg: 'etcd-client' },
  { path: '/usr/sbin/nginx', pkg: 'nginx' },
  { path: '/usr/sbin/sshd', pkg: 'openssh-server' },
  { path: '/usr/bin/ssh', pkg: 'openssh-client' },
  { path: '/usr/bin/ssh-keygen', pkg: 'openssh-client' },
  { path: '/usr/sbin/gdnsd', pkg: 'gdnsd' },
  { path: '/usr/bin/gdnsdctl', pkg: 'gdnsd' },
  { path: '/usr/sbin/knotd', pkg: 'knot' },
  { path: '/usr/bin/knsupdate', pkg: 'knot-dnsutils' },
  { path: '/usr/bin/dig', pkg: 'dnsutils' },
  { path: '/usr/bin/openssl', pkg: 'openssl' },
  { path: '/usr/bin/curl', pkg: 'curl' },
  { path: '/usr/bin/unshare', pkg: 'util-linux' },
  { path: '/usr/bin/setsid', pkg: 'util-linux' },
  { path: '/usr/bin/ss', pkg: 'iproute2' },
  { path: '/usr/bin/prometheus', pkg: 'prometheus' },
  { path: '/usr/bin/prometheus-alertmanager', pkg: 'prometheus-alertmanager' },
  { path: '/usr/sbin/ngircd', pkg: 'ngircd' },
];

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Packages whose binaries are missing (deduplicated, in a stable order). */
export function missingPackages(isExecutable: (path: string) => boolean = executable): string[] {
  return [...new Set(REQUIRED_BINARIES.filter((b) => !isExecutable(b.path)).map((b) => b.pkg))];
}

/** Throws a LabError with the one command to run when not root or when packages are missing. */
export function checkPrerequisites(
  uid: number = process.getuid?.() ?? -1,
  isExecutable: (path: string) => boolean = executable,
): void {
  if (uid !== 0) {
    throw new LabError('the lab needs root (it binds ports 22 and 53, and creates mount namespaces)', [
      'run it as root: sudo -E cookbook lab up',
    ]);
  }
  const missing = missingPackages(isExecutable);
  if (missing.length) {
    throw new LabError(`the lab needs packages that are not installed: ${missing.join(', ')}`, [
      `apt-get update && apt-get install -y ${missing.join(' ')}`,
    ]);
  }
}
