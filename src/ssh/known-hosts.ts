import { createHash, createHmac } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
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
  readonly revoked: KnownHostEntry[];

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

  /**
   * The trusted source of host keys (ssh.host_key_source), when the config names one: a
   * known_hosts file that the site's tooling publishes (production: the known hosts puppet
   * publishes; the lab: the file its reimage command updates). See {@link learnFromTrusted}.
   */
  trusted?: string;

  /** Reads and parses the file; a missing file is a setup error saying how to create it. */
  static load(file: string, trusted?: string): KnownHosts {
    const k = KnownHosts.#read(file);
    if (trusted) {
      KnownHosts.#read(trusted); // a missing or broken source is a setup error now, not at the first host
      k.trusted = trusted;
    }
    return k;
  }

  static #read(file: string): KnownHosts {
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

  /** The keys the trusted source has for a host now (read afresh: a reimage publishes a new one). */
  trustedKeys(names: string[]): KnownHostEntry[] {
    if (!this.trusted)
      throw new SshSetupError('no trusted source of host keys is configured (ssh.host_key_source)', [
        'name the known_hosts file your reimage tooling publishes (ssh.host_key_source)',
      ]);
    const source = KnownHosts.#read(this.trusted);
    return source.keysFor(names).filter((e) => !source.revoked.some((r) => r.key.equals(e.key)));
  }

  /**
   * Learns a host's new key from the trusted source, and from there only (a reimaged host):
   * the host's plain lines in known_hosts are replaced by the key(s) the trusted source has for
   * it (written to a temporary file, then renamed), here and in the file. From then on the host
   * is accepted with that key and refused with any other, its old one included. Returns the
   * fingerprints learned; throws when the trusted source has no key for the host.
   */
  learnFromTrusted(host: string, names: string[]): string[] {
    const keys = this.trustedKeys(names);
    if (!keys.length)
      throw new SshSetupError(`the trusted source of host keys ${this.trusted} has no key for ${host}`, [
        'check that the reimage published the host key',
      ]);
    this.replaceHostKeys(
      names,
      keys.map((k) => `${k.keyType} ${k.key.toString('base64')}`),
    );
    return keys.map((k) => fingerprint(k.key));
  }

  /**
   * Replaces a host's plain lines in known_hosts (the file, through a temporary file and a
   * rename, and this copy) with one line per key (`TYPE BASE64`) under `names`.
   */
  replaceHostKeys(names: string[], keys: string[]): void {
    const lower = names.map((n) => n.toLowerCase());
    const mine = (l: string) => {
      const f = l.trim().split(/\s+/);
      const hosts = f[0]?.startsWith('@') ? f[1] : f[0];
      return hosts !== undefined && hosts.split(',').some((p) => lower.includes(p.toLowerCase()));
    };
    const text = readFileSync(this.file, 'utf8');
    const kept = text.split('\n').filter((l) => l.trim() !== '' && !mine(l));
    const lines = keys.map((k) => `${names.join(',')} ${k}`);
    const tmp = `${this.file}.galley-tmp`;
    writeFileSync(tmp, `${[...kept, ...lines].join('\n')}\n`, { mode: 0o644 });
    renameSync(tmp, this.file);
    const entries = parseKnownHosts(lines.join('\n'), this.file).map((e, i) => ({ ...e, line: 1e9 + i }));
    for (const n of lower) this.byName.set(n, entries);
    // A scanned (wildcard or hashed) entry for the host would still match the old key: dropped too.
    for (let i = this.scanned.length - 1; i >= 0; i--)
      if (this.scanned[i]!.marker === undefined && entryMatches(this.scanned[i]!, names))
        this.scanned.splice(i, 1);
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
