/**
 * Where the lab keeps its files: the state directory's layout, and the lab's shell assets
 * (found from the repository root, so that this works from src/ under tsx and from dist/).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEFAULT_LAB_DIR = '/var/lib/galley/lab';
export const DEFAULT_LAB_BASE = '127.20';

/** The repository (package) root: the first ancestor of this module holding package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir)
      throw new Error(`cannot find the repository root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** The lab's non-TypeScript assets (host init script, systemctl stand-in, authdns-update). */
export function assetsDir(): string {
  return join(repoRoot(), 'src', 'lab', 'assets');
}

/** Paths inside one lab state directory. */
export class LabLayout {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  get stateFile(): string {
    return join(this.dir, 'state.json');
  }
  get configFile(): string {
    return join(this.dir, 'galley.yaml');
  }
  get rfc2136ConfigFile(): string {
    return join(this.dir, 'galley-rfc2136.yaml');
  }
  get pkiDir(): string {
    return join(this.dir, 'pki');
  }
  get caFile(): string {
    return join(this.pkiDir, 'ca.crt');
  }
  get caKeyFile(): string {
    return join(this.pkiDir, 'ca.key');
  }
  get passwordFile(): string {
    return join(this.pkiDir, 'etcd-password');
  }
  get htpasswdFile(): string {
    return join(this.pkiDir, 'etcd.htpasswd');
  }
  get tsigSecretFile(): string {
    return join(this.pkiDir, 'tsig-secret');
  }
  get sshDir(): string {
    return join(this.dir, 'ssh');
  }
  get sshKeyFile(): string {
    return join(this.sshDir, 'id_ed25519');
  }
  get knownHostsFile(): string {
    return join(this.sshDir, 'known_hosts');
  }
  get authorizedKeysFile(): string {
    return join(this.sshDir, 'authorized_keys');
  }
  hostKeyFile(name: string): string {
    return join(this.sshDir, 'hostkeys', name);
  }
  get hostsDir(): string {
    return join(this.dir, 'hosts');
  }
  hostDir(name: string): string {
    return join(this.hostsDir, name);
  }
  get knotDir(): string {
    return join(this.dir, 'knot');
  }
  get knotPidFile(): string {
    return join(this.knotDir, 'knotd.pid');
  }
  get logDir(): string {
    return join(this.dir, 'logs');
  }
}

/** The host key shared by every bench host. */
export const BENCH_HOST_KEY = 'bench.lab.wmnet';
/** sshd accepts at most 16 ListenAddress: the bench hosts are served by one sshd per group of 16. */
export const BENCH_GROUP_SIZE = 16;

/** Names of the namespaces holding the bench sshds (one per group of 16 bench hosts). */
export function benchGroupNames(benchHosts: number): string[] {
  const n = Math.ceil(benchHosts / BENCH_GROUP_SIZE);
  return Array.from({ length: n }, (_, i) => `benchgroup${i + 1}.lab.wmnet`);
}
