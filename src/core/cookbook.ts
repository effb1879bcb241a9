import { resolve as resolvePath } from 'node:path';
import type { GalleyConfig } from '../config/schema.js';
import { parseDurationMs } from '../util/duration.js';
import { closestMatches } from '../util/text.js';
export { editDistance } from '../util/text.js';
import type { ActionEnv, AnyAction } from './action.js';
import { UsageError } from './errors.js';
import type { Logger } from './log.js';

/** What an argument parser can check against (the config is loaded only if asked for). */
export interface ArgContext {
  config(): GalleyConfig;
}

/** One typed argument of a cookbook; `--help` is generated from these. */
export interface ArgSpec<T> {
  type: string;
  description: string;
  /** Given on the command line without a flag (in declaration order). */
  positional?: boolean;
  required: boolean;
  default?: T;
  /** Allowed values, shown in --help (static choices only). */
  options?: readonly string[];
  char?: string;
  /** Turns the raw text into a value, or throws UsageError naming the problem. */
  parse(raw: string, ctx: ArgContext): T;
}

type Opts<T> = { description: string; positional?: boolean; char?: string } & (
  | { required?: true; default?: undefined }
  | { required: false; default?: T }
  | { default: T; required?: false }
);

function spec<T>(
  type: string,
  o: Opts<T>,
  parse: (raw: string, ctx: ArgContext) => T,
  options?: readonly string[],
): ArgSpec<T> {
  return {
    type,
    description: o.description,
    positional: o.positional,
    char: o.char,
    required: o.default === undefined && o.required !== false,
    default: o.default,
    options,
    parse,
  };
}

function oneOf(what: string, raw: string, known: readonly string[]): string {
  if (known.includes(raw)) return raw;
  const near = closestMatches(raw, known);
  throw new UsageError(
    `unknown ${what} "${raw}"; known: ${known.join(', ')}`,
    near.length ? [`did you mean ${near.join(' or ')}?`] : [],
  );
}

/** Argument types. Each validates at the boundary, before anything runs. */
export const arg = {
  string: (o: Opts<string>) => spec<string>('string', o, (raw) => raw),
  /** A local path, made absolute (so that journals and plans do not depend on the working directory). */
  path: (o: Opts<string>) => spec<string>('path', o, (raw) => resolvePath(raw)),
  integer: (o: Opts<number> & { min?: number; max?: number }) =>
    spec<number>('integer', o, (raw) => {
      const n = Number(raw);
      if (
        !/^-?\d+$/.test(raw.trim()) ||
        (o.min !== undefined && n < o.min) ||
        (o.max !== undefined && n > o.max)
      ) {
        const range =
          o.min !== undefined || o.max !== undefined ? ` from ${o.min ?? '-∞'} to ${o.max ?? '∞'}` : '';
        throw new UsageError(`"${raw}" is not an integer${range}`);
      }
      return n;
    }),
  boolean: (o: { description: string; char?: string }) =>
    spec<boolean>('boolean', { ...o, default: false }, (raw) => raw === 'true' || raw === ''),
  /** A duration with a unit (`10s`, `5m`); the value is in milliseconds. */
  duration: (o: Opts<number>) =>
    spec<number>('duration', o, (raw) => {
      try {
        return parseDurationMs(raw);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }),
  choice: <C extends string>(choices: readonly C[], o: Opts<C>) =>
    spec<C>('choice', o, (raw) => oneOf('value', raw, choices) as C, choices),
  /** A datacenter of the config. */
  datacenter: (o: Opts<string>) =>
    spec<string>('datacenter', o, (raw, ctx) => oneOf('datacenter', raw, ctx.config().datacenters)),
  /** A host of the config's inventory (full name). */
  host: (o: Opts<string>) =>
    spec<string>('host', o, (raw, ctx) => oneOf('host', raw, Object.keys(ctx.config().hosts))),
  /** An etcd cluster of the config. */
  cluster: (o: Opts<string>) =>
    spec<string>('cluster', o, (raw, ctx) =>
      oneOf('etcd cluster', raw, Object.keys(ctx.config().etcd.clusters)),
    ),
};

export type ArgsSpec = Record<string, ArgSpec<unknown>>;
export type ArgValues<S extends ArgsSpec> = {
  [K in keyof S]: S[K] extends { parse(raw: string, ctx: ArgContext): infer T } ? T : never;
};

/** What a cookbook's steps can use: its arguments, the config, the action environment. */
export interface CookbookContext<A> extends ActionEnv {
  args: A;
  /** The run's id (for lock owners, canary values…). */
  runId: string;
  /** Adds structured data to the run's result (printed by --json): what a status cookbook found. */
  report(key: string, value: unknown): void;
  /**
   * A fact observed once per run and remembered in its journal (e.g. "the TTL before we
   * lowered it"): the first call computes and journals it, later calls, and a resumed run,
   * get the same value. In a dry-run it is computed and not journaled.
   */
  fact<T>(key: string, compute: () => Promise<T>): Promise<T>;
}

/** A titled group of actions; the list is built when the step is reached, so it can depend on what earlier steps did. */
export interface ActionStep {
  kind: 'actions';
  title: string;
  build(): AnyAction[] | Promise<AnyAction[]>;
}

/** A read-only check (or wait): retried until it passes or its deadline. Returns a line for the operator. */
export interface CheckStep {
  kind: 'check';
  title: string;
  run(): Promise<string | void>;
  timeoutMs: number;
  intervalMs: number;
}

export type Step = ActionStep | CheckStep;

/** A step made of actions (or of a function that builds them when the step is reached). */
export function step(
  title: string,
  actions: AnyAction[] | (() => AnyAction[] | Promise<AnyAction[]>),
): ActionStep {
  return { kind: 'actions', title, build: typeof actions === 'function' ? actions : () => actions };
}

/**
 * A read-only check, retried until it passes or `timeout` runs out (default: once). In a
 * dry-run it runs too, unless an earlier step would have changed something it may depend on.
 */
export function check(
  title: string,
  run: () => Promise<string | void>,
  o: { timeoutMs?: number; intervalMs?: number } = {},
): CheckStep {
  return { kind: 'check', title, run, timeoutMs: o.timeoutMs ?? 0, intervalMs: o.intervalMs ?? 500 };
}

export interface LockSpec {
  name: string;
  concurrency?: number;
  ttlMs?: number;
  /** Lock stores (etcd clusters) this run repairs, which cannot hold its lock. */
  without?: readonly string[];
}

/**
 * An invariant that must hold whenever a run of the cookbook ends, whatever the outcome
 * (the switchover: exactly one datacenter read-write, replication running into the other).
 * The Runner checks it after every rollback, abort, failure or interruption; when it does
 * not hold, it says so first and loudly, with what would restore it, and exits 93.
 */
export interface SafeState {
  /** What must hold, in one line ("exactly one datacenter read-write, replication into the other"). */
  title: string;
  /** Read-only; throws (CheckError) saying what does not hold. Returns a line for the operator. */
  check(): Promise<string | void>;
  /** What to run to restore it, given what does not hold (commands, cookbooks, by hand). */
  restore?(problem: string): string[] | Promise<string[]>;
}

export interface CookbookDefinition<S extends ArgsSpec> {
  title: string;
  description?: string;
  examples?: string[];
  args: S;
  /** A lock the Runner takes before the first step and releases at the end (it may depend on the config, e.g. the cluster of a host). */
  lock?(args: ArgValues<S>, ctx: ArgContext): LockSpec | undefined;
  /** Extra validation once the arguments are parsed (e.g. --from differs from --to); throw UsageError. */
  validate?(args: ArgValues<S>, ctx: ArgContext): void;
  steps(ctx: CookbookContext<ArgValues<S>>): Step[];
  /** The invariant that holds at every end of a run (see SafeState). */
  safeState?(ctx: CookbookContext<ArgValues<S>>): SafeState;
}

export interface Cookbook<S extends ArgsSpec = ArgsSpec> extends CookbookDefinition<S> {
  readonly isCookbook: true;
}

/** Declares a cookbook: a title, typed arguments, an optional lock, and its steps. */
export function defineCookbook<S extends ArgsSpec>(definition: CookbookDefinition<S>): Cookbook<S> {
  return { ...definition, isCookbook: true };
}

export function isCookbook(value: unknown): value is Cookbook {
  return (
    typeof value === 'object' && value !== null && (value as { isCookbook?: unknown }).isCookbook === true
  );
}

/**
 * Parses raw argument values (strings from the command line or a journal) into typed
 * values. Throws UsageError for the first missing or bad one; nothing has run yet.
 */
export function parseArgs<S extends ArgsSpec>(
  cookbook: Cookbook<S>,
  raw: Record<string, string | undefined>,
  ctx: ArgContext,
): ArgValues<S> {
  const out: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(cookbook.args)) {
    const v = raw[name];
    if (v === undefined) {
      if (s.required)
        throw new UsageError(
          `missing ${s.positional ? `argument ${name.toUpperCase()}` : `--${name}`}: ${s.description}`,
        );
      out[name] = s.default;
      continue;
    }
    try {
      out[name] = s.parse(v, ctx);
    } catch (e) {
      if (e instanceof UsageError)
        throw new UsageError(
          `${s.positional ? name.toUpperCase() : `--${name}`}: ${e.message}`,
          e.suggestions,
        );
      throw e;
    }
  }
  const args = out as ArgValues<S>;
  cookbook.validate?.(args, ctx);
  return args;
}

export type { Logger };
