import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { HostKeyChangedError, HostKeyUnknownError, SshSetupError } from './errors.js';

/** One key line of a known_hosts file (as written by ssh and ssh-keyscan). */
export interface KnownHostEntry {
  marker?: '@revoked' | '@cert-authority';
  /** Host patterns, comma-separated in the file: plain, `[addr]:port`, wildcards, `!negated`, or hashed `|1|salt|hash`. */
  patterns: string[];
  keyType: string;
  key: Buffer;
  line: number;
}

/** How known_hosts names a host: `addr` on port 22, `[addr]:port` otherwise (OpenSSH's rule). */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The SHA256 fingerprint of a public key blob, as `ssh-keygen -l` prints it. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** Parses known_hosts text; malformed lines are reported with their number. */
export function parseKnownHosts(text: string, file = 'known_hosts'): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority')
      marker = fields.shift() as KnownHostEntry['marker'];
    const [hosts, keyType, keyBase64] = fields;
    if (!hosts || !keyType || !keyBase64 || !/^[A-Za-z0-9+/]+=*$/.test(keyBase64)) {
      throw new SshSetupError(
        `${file}:${i + 1}: not a known_hosts line (expected "HOSTS KEYTYPE BASE64KEY")`,
      );
    }
    entries.push({
      marker,
      patterns: hosts.split(','),
      keyType,
      key: Buffer.from(keyBase64, 'base64'),
      line: i + 1,
    });
  });
  return entries;
}

function wildcardMatch(pattern: string, name: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern.toLowerCase() === name.toLowerCase();
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );
  return re.test(name);
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    // Hashed entry: |1|base64(salt)|base64(HMAC-SHA1(salt, name)).
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return digest === hash;
  }
  return wildcardMatch(pattern, name);
}

/** True when the entry's host patterns match any of `names` (a `!pattern` match excludes the entry). */
function entryMatches(entry: KnownHostEntry, names: string[]): boolean {
  return names.some((name) => {
    let matched = false;
    for (const p of entry.patterns) {
      if (p.startsWith('!')) {
        if (patternMatches(p.slice(1), name)) return false;
      } else if (patternMatches(p, name)) matched = true;
    }
    return matched;
  });
}

/** Host key algorithms ssh2 may negotiate for a key type found in known_hosts. */
export function hostKeyAlgorithms(keyType: string): string[] {
  if (keyType === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return [keyType];
}

/** A pattern matched by plain comparison (no wildcard, not hashed, not negated): it can be indexed. */
function isPlainPattern(p: string): boolean {
  return !p.startsWith('|1|') && !p.startsWith('!') && !/[*?]/.test(p);
}

/**
 * The known_hosts of a run: read once, asked for every host. Entries whose patterns are all
 * plain names are indexed by name, so that a run over 1,000 hosts with a 1,000-line file does
 * not compare every host with every line (wildcard and hashed entries are still scanned).
 */
export class KnownHosts {
  private readonly byName = new Map<string, KnownHostEntry[]>();
  private readonly scanned: KnownHostEntry[] = [];
  private readonly revoked: KnownHostEntry[];

  constructor(
    readonly file: string,
    entries: KnownHostEntry[],
  ) {
    for (const e of entries) {
      if (e.marker === undefined && e.patterns.every(isPlainPattern)) {
        for (const p of e.patterns) {
          const key = p.toLowerCase();
          const list = this.byName.get(key) ?? [];
          if (!list.includes(e)) list.push(e);
          this.byName.set(key, list);
        }
      } else this.scanned.push(e);
    }
    this.revoked = entries.filter((e) => e.marker === '@revoked');
  }

  /** Reads and parses the file; a missing file is a setup error saying how to create it. */
  static load(file: string): KnownHosts {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new SshSetupError(
        `cannot read known_hosts ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
        ['set ssh.known_hosts in the config to a file written by ssh-keyscan (the lab writes one)'],
      );
    }
    return new KnownHosts(file, parseKnownHosts(text, file));
  }

  /** The plain key entries that apply to a host known by any of `names` (name and address). */
  keysFor(names: string[]): KnownHostEntry[] {
    const found = new Set(names.flatMap((n) => this.byName.get(n.toLowerCase()) ?? []));
    for (const e of this.scanned) if (e.marker === undefined && entryMatches(e, names)) found.add(e);
    // In file order, as a scan of every line would give them.
    return [...found].sort((a, b) => a.line - b.line);
  }

  /** Host key algorithms to offer for this host, so that the server presents a key we know. */
  algorithmsFor(names: string[]): string[] {
    return [...new Set(this.keysFor(names).flatMap((e) => hostKeyAlgorithms(e.keyType)))];
  }

  /**
   * Checks the key a host presented. Throws HostKeyChangedError (naming both fingerprints)
   * when the host is known with other keys or the key is revoked, HostKeyUnknownError when
   * the host is not in the file at all.
   * @param host the name shown in errors; @param names every name the host may be recorded under.
   */
  verify(host: string, names: string[], presented: Buffer, keyscan: string): void {
    const revoked = this.revoked.some((e) => e.key.equals(presented));
    const known = this.keysFor(names);
    if (!revoked && known.some((e) => e.key.equals(presented))) return;
    if (known.length === 0 && !revoked)
      throw new HostKeyUnknownError(host, fingerprint(presented), this.file, keyscan);
    throw new HostKeyChangedError(
      host,
      revoked ? ['(this key is marked @revoked)'] : known.map((e) => fingerprint(e.key)),
      fingerprint(presented),
      this.file,
    );
  }
}
