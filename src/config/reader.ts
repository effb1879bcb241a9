import { parseDurationMs } from '../util/duration.js';
import { closestMatches } from '../util/text.js';

/**
 * Walks raw YAML with a path, collecting every problem (`clusters.eqiad.members[2]: …`)
 * instead of stopping at the first one. Readers return a placeholder on error so that
 * validation can go on; the caller checks `problems` at the end.
 */
export class Reader {
  constructor(
    readonly problems: string[],
    readonly path: string,
    readonly value: unknown,
  ) {}

  static root(value: unknown, problems: string[] = []): Reader {
    return new Reader(problems, '', value);
  }

  problem(message: string): void {
    this.problems.push(`${this.path || '(top level)'}: ${message}`);
  }

  get present(): boolean {
    return this.value !== undefined && this.value !== null;
  }

  child(key: string | number): Reader {
    const path = typeof key === 'number' ? `${this.path}[${key}]` : this.path ? `${this.path}.${key}` : key;
    const obj = this.value;
    let v: unknown;
    if (typeof key === 'number') v = Array.isArray(obj) ? obj[key] : undefined;
    else
      v =
        obj !== null && typeof obj === 'object' && !Array.isArray(obj)
          ? (obj as Record<string, unknown>)[key]
          : undefined;
    return new Reader(this.problems, path, v);
  }

  /** Reports keys not in `allowed` (typos are the most common config mistake). */
  onlyKeys(allowed: readonly string[]): void {
    if (!this.isObject()) return;
    for (const k of Object.keys(this.value as object)) {
      if (!allowed.includes(k)) {
        const hint = closestMatches(k, allowed, 1)[0];
        this.child(k).problem(
          `unknown key${hint ? ` (did you mean "${hint}"?)` : `; expected one of: ${allowed.join(', ')}`}`,
        );
      }
    }
  }

  isObject(): boolean {
    return this.value !== null && typeof this.value === 'object' && !Array.isArray(this.value);
  }

  object(): Reader {
    if (!this.isObject())
      this.problem(
        this.present ? `must be a mapping, got ${describe(this.value, this.path)}` : 'is required',
      );
    return this;
  }

  optionalObject(): Reader | undefined {
    if (!this.present) return undefined;
    return this.object();
  }

  entries(): [string, Reader][] {
    if (!this.isObject()) return [];
    return Object.keys(this.value as object).map((k) => [k, this.child(k)]);
  }

  items(): Reader[] {
    if (!Array.isArray(this.value)) {
      this.problem(this.present ? `must be a list, got ${describe(this.value, this.path)}` : 'is required');
      return [];
    }
    return this.value.map((_, i) => this.child(i));
  }

  string(fallback?: string): string {
    if (!this.present && fallback !== undefined) return fallback;
    if (typeof this.value !== 'string' || this.value === '') {
      this.problem(
        this.present ? `must be a non-empty string, got ${describe(this.value, this.path)}` : 'is required',
      );
      return '';
    }
    return this.value;
  }

  optionalString(): string | undefined {
    return this.present ? this.string() : undefined;
  }

  oneOf<T extends string>(choices: readonly T[], fallback?: T): T {
    const v = this.string(fallback);
    if (v && !choices.includes(v as T)) this.problem(`must be one of ${choices.join(', ')}, got "${v}"`);
    return v as T;
  }

  integer(fallback?: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    if (!this.present && fallback !== undefined) return fallback;
    if (
      typeof this.value !== 'number' ||
      !Number.isInteger(this.value) ||
      this.value < min ||
      this.value > max
    ) {
      this.problem(
        this.present
          ? `must be an integer from ${min} to ${max}, got ${describe(this.value, this.path)}`
          : 'is required',
      );
      return fallback ?? min;
    }
    return this.value;
  }

  boolean(fallback: boolean): boolean {
    if (!this.present) return fallback;
    if (typeof this.value !== 'boolean') {
      this.problem(`must be true or false, got ${describe(this.value, this.path)}`);
      return fallback;
    }
    return this.value;
  }

  durationMs(fallback: string): number {
    const raw = this.present ? this.value : fallback;
    if (typeof raw !== 'string' && typeof raw !== 'number') {
      this.problem(`must be a duration such as 10s or 5m, got ${describe(raw, this.path)}`);
      return 0;
    }
    try {
      return parseDurationMs(raw);
    } catch (e) {
      this.problem((e as Error).message);
      return 0;
    }
  }

  stringList(fallback?: string[]): string[] {
    if (!this.present && fallback) return fallback;
    return this.items().map((r) => r.string());
  }

  ipv4(): string {
    const v = this.string();
    const parts = v.split('.');
    if (v && (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)))
      this.problem(`must be an IPv4 address, got "${v}"`);
    return v;
  }
}

/** Keys whose values are credentials: a problem with one never prints the value. */
const CREDENTIAL_KEY = /(^|\.)(password|passwd|secret|token|api[_-]?key|key)(\[\d+\])?$/i;

function describe(v: unknown, path = ''): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (CREDENTIAL_KEY.test(path)) return `a ${typeof v} (its value is not shown: it is a credential)`;
  return `${typeof v} ${JSON.stringify(v)}`;
}
