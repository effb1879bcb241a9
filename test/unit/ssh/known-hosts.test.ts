import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostKeyChangedError, HostKeyUnknownError, SshSetupError } from '../../../src/ssh/errors.js';
import {
  fingerprint,
  hostKeyAlgorithms,
  KnownHosts,
  knownHostsName,
  parseKnownHosts,
} from '../../../src/ssh/known-hosts.js';

const keyA = Buffer.from('0000000b7373682d6564323535313900000020' + 'aa'.repeat(32), 'hex');
const keyB = Buffer.from('0000000b7373682d6564323535313900000020' + 'bb'.repeat(32), 'hex');
const b64 = (k: Buffer) => k.toString('base64');

function hashed(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

function knownHosts(text: string): KnownHosts {
  return new KnownHosts('/etc/galley/known_hosts', parseKnownHosts(text));
}

function error(fn: () => void): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('known_hosts', () => {
  test('a host on port 22 is named by its address, other ports as [address]:port', () => {
    expect(knownHostsName('127.30.0.1', 22)).toBe('127.30.0.1');
    expect(knownHostsName('127.30.0.1', 2222)).toBe('[127.30.0.1]:2222');
  });

  test('fingerprints are printed as ssh-keygen -l does', () => {
    expect(fingerprint(keyA)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  test('a plain entry with several names accepts its key under any of them', () => {
    const kh = knownHosts(
      `# comment\n\nconf2004.codfw.wmnet,127.30.2.4 ssh-ed25519 ${b64(keyA)} root@conf2004\n`,
    );
    expect(() =>
      kh.verify('conf2004.codfw.wmnet', ['127.30.2.4'], keyA, 'ssh-keyscan 127.30.2.4'),
    ).not.toThrow();
    expect(() => kh.verify('conf2004.codfw.wmnet', ['conf2004.codfw.wmnet'], keyA, 'k')).not.toThrow();
  });

  test('a hashed entry matches the name it was hashed from, and only that one', () => {
    const kh = knownHosts(`${hashed('127.30.2.4')} ssh-ed25519 ${b64(keyA)}\n`);
    expect(kh.keysFor(['127.30.2.4'])).toHaveLength(1);
    expect(kh.keysFor(['127.30.2.5'])).toHaveLength(0);
  });

  test('a hashed [address]:port entry matches that port only', () => {
    const kh = knownHosts(`${hashed('[127.30.0.5]:2222')} ssh-ed25519 ${b64(keyA)}\n`);
    expect(kh.keysFor([knownHostsName('127.30.0.5', 2222)])).toHaveLength(1);
    expect(kh.keysFor([knownHostsName('127.30.0.5', 22)])).toHaveLength(0);
  });

  test('a plain [address]:port entry is matched literally (brackets are not a pattern)', () => {
    const kh = knownHosts(`[127.30.0.5]:2222 ssh-ed25519 ${b64(keyA)}\n`);
    expect(kh.keysFor(['[127.30.0.5]:2222'])).toHaveLength(1);
    expect(kh.keysFor(['1'])).toHaveLength(0);
  });

  test('wildcards match and a negated pattern excludes a host', () => {
    const kh = knownHosts(`*.codfw.wmnet,!conf2006.codfw.wmnet ssh-ed25519 ${b64(keyA)}\n`);
    expect(kh.keysFor(['conf2004.codfw.wmnet'])).toHaveLength(1);
    expect(kh.keysFor(['conf2006.codfw.wmnet'])).toHaveLength(0);
    expect(kh.keysFor(['conf2004Xcodfw.wmnet.evil'])).toHaveLength(0);
  });

  test('a changed key is refused with an error naming the host and both fingerprints', () => {
    const kh = knownHosts(`127.30.2.4 ssh-ed25519 ${b64(keyA)}\n`);
    const e = error(() => kh.verify('conf2004.codfw.wmnet', ['127.30.2.4'], keyB, 'k'));
    expect(e).toBeInstanceOf(HostKeyChangedError);
    expect(e.message).toContain('conf2004.codfw.wmnet');
    expect(e.message).toContain(fingerprint(keyA));
    expect(e.message).toContain(fingerprint(keyB));
    expect(e.message).toContain('CHANGED');
  });

  test('an unknown host is refused with an error saying how to add it', () => {
    const kh = knownHosts(`127.30.2.4 ssh-ed25519 ${b64(keyA)}\n`);
    const e = error(() =>
      kh.verify('conf2005.codfw.wmnet', ['127.30.2.5'], keyA, 'ssh-keyscan 127.30.2.5'),
    ) as HostKeyUnknownError;
    expect(e).toBeInstanceOf(HostKeyUnknownError);
    expect(e.message).toContain('conf2005.codfw.wmnet');
    expect(e.message).toContain(fingerprint(keyA));
    expect(e.suggestions[0]).toContain('ssh-keyscan 127.30.2.5 >> /etc/galley/known_hosts');
  });

  test('a key marked @revoked is refused even when also listed as valid', () => {
    const kh = knownHosts(`127.30.2.4 ssh-ed25519 ${b64(keyA)}\n@revoked * ssh-ed25519 ${b64(keyA)}\n`);
    expect(error(() => kh.verify('h', ['127.30.2.4'], keyA, 'k'))).toBeInstanceOf(HostKeyChangedError);
  });

  test('the host key algorithms offered are those of the recorded keys', () => {
    const kh = knownHosts(`h1 ecdsa-sha2-nistp256 ${b64(keyA)}\nh1 ssh-rsa ${b64(keyB)}\n`);
    expect(kh.algorithmsFor(['h1'])).toEqual([
      'ecdsa-sha2-nistp256',
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
    ]);
    expect(hostKeyAlgorithms('ssh-ed25519')).toEqual(['ssh-ed25519']);
  });

  test('a malformed line is an error naming the file and line', () => {
    expect(() => parseKnownHosts('ok ssh-ed25519 AAAA\nbroken-line\n', 'kh')).toThrow(
      new SshSetupError('kh:2: not a known_hosts line (expected "HOSTS KEYTYPE BASE64KEY")'),
    );
  });

  test('a missing known_hosts file is a setup error', () => {
    expect(() => KnownHosts.load('/nonexistent/known_hosts')).toThrow(
      'cannot read known_hosts /nonexistent/known_hosts: ENOENT',
    );
  });
});

describe('a trusted source of host keys (ssh.host_key_source)', () => {
  const keyC = Buffer.from('0000000b7373682d6564323535313900000020' + 'cc'.repeat(32), 'hex');
  const names = ['conf2004.codfw.wmnet', '127.30.2.4'];
  function files(known: string, trusted: string) {
    const dir = mkdtempSync(join(tmpdir(), 'galley-kh-'));
    writeFileSync(join(dir, 'known_hosts'), known);
    writeFileSync(join(dir, 'published'), trusted);
    return { dir, known: join(dir, 'known_hosts'), trusted: join(dir, 'published') };
  }

  test('a reimaged host is accepted with the key learned from the trusted source, and refused with any other, its old one included', () => {
    const f = files(
      `conf2004.codfw.wmnet,127.30.2.4 ssh-ed25519 ${b64(keyA)}\nother ssh-ed25519 ${b64(keyC)}\n`,
      `conf2004.codfw.wmnet,127.30.2.4 ssh-ed25519 ${b64(keyB)}\n`,
    );
    const kh = KnownHosts.load(f.known, f.trusted);
    expect(kh.learnFromTrusted('conf2004.codfw.wmnet', names)).toEqual([fingerprint(keyB)]);
    expect(() => kh.verify('conf2004.codfw.wmnet', names, keyB, 'k')).not.toThrow();
    for (const other of [keyA, keyC])
      expect(error(() => kh.verify('conf2004.codfw.wmnet', names, other, 'k'))).toBeInstanceOf(
        HostKeyChangedError,
      );
    const learned = readFileSync(f.known, 'utf8');
    expect(learned).toContain(`conf2004.codfw.wmnet,127.30.2.4 ssh-ed25519 ${b64(keyB)}`);
    expect(learned).not.toContain(b64(keyA));
    expect(learned).toContain(`other ssh-ed25519 ${b64(keyC)}`);
    // A later run reads the learned key from known_hosts alone.
    expect(() =>
      KnownHosts.load(f.known).verify('conf2004.codfw.wmnet', ['127.30.2.4'], keyB, 'k'),
    ).not.toThrow();
  });

  test('a key is never learned from what the host presents: until learned from the source, a new key is refused', () => {
    const f = files(
      `conf2004.codfw.wmnet ssh-ed25519 ${b64(keyA)}\n`,
      `conf2004.codfw.wmnet ssh-ed25519 ${b64(keyB)}\n`,
    );
    const kh = KnownHosts.load(f.known, f.trusted);
    const e = error(() => kh.verify('conf2004.codfw.wmnet', ['conf2004.codfw.wmnet'], keyB, 'k'));
    expect(e).toBeInstanceOf(HostKeyChangedError);
    expect(e.message).toContain(`presented ${fingerprint(keyB)}`);
    expect(readFileSync(f.known, 'utf8')).toBe(`conf2004.codfw.wmnet ssh-ed25519 ${b64(keyA)}\n`);
  });

  test('the trusted source is read afresh, and a host it does not list cannot be learned', () => {
    const f = files(`h ssh-ed25519 ${b64(keyA)}\n`, `other ssh-ed25519 ${b64(keyA)}\n`);
    const kh = KnownHosts.load(f.known, f.trusted);
    expect(() => kh.learnFromTrusted('h', ['h'])).toThrow('has no key for h');
    writeFileSync(f.trusted, `h ssh-ed25519 ${b64(keyB)}\n`);
    expect(kh.learnFromTrusted('h', ['h'])).toEqual([fingerprint(keyB)]);
    expect(() => kh.verify('h', ['h'], keyB, 'k')).not.toThrow();
  });

  test('a missing trusted source is a setup error when the transport opens; none configured cannot learn', () => {
    const f = files(`h ssh-ed25519 ${b64(keyA)}\n`, '');
    expect(() => KnownHosts.load(f.known, join(f.dir, 'nope'))).toThrow(SshSetupError);
    expect(() => KnownHosts.load(f.known).learnFromTrusted('h', ['h'])).toThrow('ssh.host_key_source');
  });
});
