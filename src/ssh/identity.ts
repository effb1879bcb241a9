import { createPrivateKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { AuthHandlerMiddleware, ParsedKey } from 'ssh2';
import { SshSetupError } from './errors.js';

/** How we prove who we are: a private key parsed once, or the SSH agent. */
export type SshIdentity = { kind: 'key'; file: string; key: ParsedKey } | { kind: 'agent'; socket: string };

/** Hash used when ssh2 does not name one (ed25519 signs the message itself). */
function defaultHash(type: string): string | null {
  if (type === 'ssh-ed25519') return null;
  if (type === 'ecdsa-sha2-nistp384') return 'sha384';
  if (type === 'ecdsa-sha2-nistp521') return 'sha512';
  if (type === 'ssh-rsa') return 'sha1';
  return 'sha256';
}

/**
 * Parses an OpenSSH or PEM private key once, and makes it sign with a cached KeyObject:
 * ssh2 re-decodes the PEM on every signature, which costs CPU on every connection.
 */
export function parsePrivateKey(text: string | Buffer, file: string): ParsedKey {
  const parsed = ssh2.utils.parseKey(text);
  const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey | Error | undefined) : parsed;
  if (!key || key instanceof Error) {
    const why = key instanceof Error ? key.message : 'no key found';
    throw new SshSetupError(`cannot use private key ${file}: ${why}`, [
      /encrypted|passphrase/i.test(why)
        ? 'keys with a passphrase are not supported: load the key into ssh-agent and leave ssh.key_file empty'
        : 'ssh.key_file must be an unencrypted OpenSSH or PEM private key',
    ]);
  }
  if (!key.isPrivateKey())
    throw new SshSetupError(`${file} holds a public key; ssh.key_file must be the private key`);
  const keyObject: KeyObject = createPrivateKey(key.getPrivatePEM());
  const fallback = defaultHash(key.type);
  // Own property shadows ssh2's prototype method; same contract (returns the signature or an Error).
  key.sign = ((data: Buffer | string, algo?: string): Buffer | Error => {
    try {
      return cryptoSign(algo || fallback, typeof data === 'string' ? Buffer.from(data) : data, keyObject);
    } catch (e) {
      return e as Error;
    }
  }) as ParsedKey['sign'];
  return key;
}

/**
 * The identity of a run: the configured key file, read and parsed once, or, when no key
 * file is configured, the agent at SSH_AUTH_SOCK.
 */
export function loadIdentity(keyFile: string, env: NodeJS.ProcessEnv = process.env): SshIdentity {
  if (keyFile) {
    let text: Buffer;
    try {
      text = readFileSync(keyFile);
    } catch (e) {
      throw new SshSetupError(
        `cannot read ssh.key_file ${keyFile}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
        ['fix ssh.key_file in the config, or leave it empty to use ssh-agent (SSH_AUTH_SOCK)'],
      );
    }
    return { kind: 'key', file: keyFile, key: parsePrivateKey(text, keyFile) };
  }
  const socket = env.SSH_AUTH_SOCK;
  if (!socket) {
    throw new SshSetupError('no SSH identity: ssh.key_file is empty and SSH_AUTH_SOCK is not set', [
      'set ssh.key_file in the config, or start ssh-agent and add your key (ssh-add)',
    ]);
  }
  return { kind: 'agent', socket };
}

/** Offers only public-key authentication (one attempt), so no round trip is spent on other methods. */
export function publicKeyAuthHandler(identity: SshIdentity, username: string): AuthHandlerMiddleware {
  let tried = false;
  return (_methodsLeft, _partial, next) => {
    if (tried) return next(false as unknown as Parameters<typeof next>[0]);
    tried = true;
    if (identity.kind === 'key') return next({ type: 'publickey', username, key: identity.key });
    return next({ type: 'agent', username, agent: identity.socket });
  };
}
