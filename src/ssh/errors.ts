import { ExitCode, GalleyError } from '../core/errors.js';

/** Root of the SSH transport's errors. */
export class SshError extends GalleyError {}

/** A host set expression is malformed, names an unknown host or alias, or an alias loops. */
export class HostSetError extends SshError {
  constructor(message: string, suggestions: string[] = []) {
    super(message, { suggestions, exitCode: ExitCode.USAGE });
  }
}

/** The host presented a key different from the one recorded in known_hosts: possibly an attack. */
export class HostKeyChangedError extends SshError {
  constructor(
    readonly host: string,
    readonly expectedFingerprints: string[],
    readonly presentedFingerprint: string,
    knownHostsFile: string,
  ) {
    super(
      `host key of ${host} has CHANGED: known_hosts (${knownHostsFile}) has ${expectedFingerprints.join(', ')} ` +
        `but the host presented ${presentedFingerprint}; refusing to connect`,
      {
        suggestions: [
          'check with the host owner whether the host was reimaged; if so, replace its line in known_hosts (ssh-keygen -R NAME -f FILE, then ssh-keyscan)',
        ],
      },
    );
  }
}

/** The host is not in known_hosts: strict checking never trusts a key on first use. */
export class HostKeyUnknownError extends SshError {
  constructor(
    readonly host: string,
    readonly presentedFingerprint: string,
    knownHostsFile: string,
    keyscanCommand: string,
  ) {
    super(
      `host key of ${host} is unknown: no entry in known_hosts (${knownHostsFile}); it presented ${presentedFingerprint}`,
      {
        suggestions: [
          `verify the fingerprint out of band, then add it: ${keyscanCommand} >> ${knownHostsFile}`,
        ],
      },
    );
  }
}

/** The private key or known_hosts file cannot be read or parsed. */
export class SshSetupError extends SshError {
  constructor(message: string, suggestions: string[] = []) {
    super(message, { suggestions, exitCode: ExitCode.USAGE });
  }
}
