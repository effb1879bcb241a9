import { readFileSync } from 'node:fs';

/**
 * A secret read from a file or an environment variable. Its value is only handed out by
 * `reveal()`, and every revealed value is registered with the redactor so that it never
 * reaches a log, a journal, a plan or an error message.
 */
export class Secret {
  readonly #source: { file: string } | { env: string };
  #value: string | undefined;

  constructor(source: { file: string } | { env: string }) {
    this.#source = source;
  }

  /** Where the secret comes from, safe to print. */
  get origin(): string {
    return 'file' in this.#source ? `file ${this.#source.file}` : `environment variable ${this.#source.env}`;
  }

  reveal(): string {
    if (this.#value === undefined) {
      let v: string | undefined;
      if ('file' in this.#source) {
        try {
          v = readFileSync(this.#source.file, 'utf8').replace(/\r?\n$/, '');
        } catch (e) {
          throw new Error(
            `cannot read secret from ${this.origin}: ${(e as NodeJS.ErrnoException).code ?? e}`,
          );
        }
      } else {
        v = process.env[this.#source.env];
        if (v === undefined) throw new Error(`secret ${this.origin} is not set: export it or use a file`);
      }
      this.#value = v;
      registerSecret(v);
    }
    return this.#value;
  }

  toString(): string {
    return '***';
  }

  toJSON(): string {
    return '***';
  }
}

const knownSecrets = new Set<string>();

/** Registers a value that must never be printed (values shorter than 4 characters are ignored). */
export function registerSecret(value: string): void {
  if (value.length >= 4) knownSecrets.add(value);
}

const credentialPatterns: RegExp[] = [
  /(\/\/[^/\s:@]+:)([^@\s/]+)(@)/g, // user:password@ in URLs
  // key=value or key: value, where the key is a word of its own (not the end of a path or a
  // config path such as "credentials.password:") and the value is not an English word.
  /((?<![\w./-])(?:password|passwd|secret|token|api[_-]?key)\s*[=:]\s*)("?)(?!(?:must|is|was|not|has|cannot|should|expected|required|missing)\b)[^\s",}]+/gi,
  /(authorization:\s*(?:basic|bearer)\s+)[A-Za-z0-9+/=._-]+/gi,
];

/** Replaces every registered secret and anything that looks like a credential with `***`. */
export function redact(text: string): string {
  let out = text;
  for (const s of knownSecrets) out = out.split(s).join('***');
  out = out.replace(credentialPatterns[0]!, '$1***$3');
  out = out.replace(credentialPatterns[1]!, '$1$2***');
  out = out.replace(credentialPatterns[2]!, '$1***');
  return out;
}

/** Deeply redacts a JSON-able value (for journals and plans). */
export function redactValue<T>(value: T): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return redact(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      if (v instanceof Secret) return '***';
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>).map(([k, x]) => [
          k,
          /^(password|secret|token)$/i.test(k) ? '***' : walk(x),
        ]),
      );
    }
    return v;
  };
  return walk(value) as T;
}
