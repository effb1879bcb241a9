/**
 * `lab ssh`: the system ssh command line that reaches a lab host with the lab's key and
 * known_hosts (names are resolved through the lab's inventory, never through /etc/hosts).
 */
import { LabError } from './errors.js';
import type { LabStatusReport } from './status.js';

/** Finds a host by its full name or by a unique prefix (`conf1007`). */
export function findLabHost(status: LabStatusReport, name: string): { name: string; address: string } {
  const exact = status.hosts.find((h) => h.name === name);
  if (exact) return exact;
  const matches = status.hosts.filter((h) => h.name.startsWith(`${name}.`) || h.name.startsWith(name));
  if (matches.length === 1) return matches[0]!;
  const known = status.hosts.filter((h) => h.role !== 'bench').map((h) => h.name);
  throw new LabError(
    matches.length
      ? `"${name}" matches ${matches.length} lab hosts: ${matches
          .slice(0, 5)
          .map((h) => h.name)
          .join(', ')}…`
      : `no lab host named "${name}"`,
    [`one of: ${known.join(', ')} (or bench001.lab.wmnet …)`],
  );
}

/** Arguments of `ssh` for a command (or an interactive shell when `command` is empty). */
export function sshArgs(
  status: LabStatusReport,
  host: { name: string; address: string },
  command: string[],
): string[] {
  return [
    '-i',
    status.credentials.sshKey,
    '-o',
    `UserKnownHostsFile=${status.credentials.knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `HostKeyAlias=${host.name}`,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'KexAlgorithms=curve25519-sha256,ecdh-sha2-nistp256',
    ...(command.length ? [] : ['-t']),
    `root@${host.address}`,
    ...command,
  ];
}
