import type { GalleyConfig } from '../config/schema.js';
import type { Logger } from './log.js';

/** One line of a plan: what changes, from what, to what. */
export interface Change {
  /** What changes, e.g. "_etcd._tcp.eqiad.wmnet SRV TTL" or "/tmp/demo/f1". */
  subject: string;
  from: string;
  to: string;
  /**
   * What the values are right now, shown to the operator but left out of the plan's
   * fingerprint (e.g. "now 81234" for "codfw's etcd index"): values that move on their own
   * would otherwise make every reviewed plan drift.
   */
  detail?: string;
}

/**
 * What an action can reach while it runs: the configuration (loaded on first use, so a
 * cookbook that needs no servers needs no config), shared transport clients that live for
 * the run, a logger, and the run's abort signal. There is no dry-run flag here: the Runner
 * never calls `apply` or `undo` in a dry-run, so actions need no `if (dryRun)`.
 */
export interface ActionEnv {
  config(): GalleyConfig;
  /** A client shared by every action of the run (created on first use, closed at the end). */
  service<T>(key: string, create: () => T, close?: (t: T) => Promise<void> | void): T;
  log: Logger;
  signal: AbortSignal;
  /**
   * True during a dry-run. Only transport factories read it, to arm their own gate (an SSH
   * executor that refuses unsafe commands) as a second line of defence: the Runner already
   * never calls `apply` or `undo` in a dry-run, so actions never test it.
   */
  readonly dryRun: boolean;
  /**
   * Who runs this, and why: set by the Runner for the actions that record it (a silence's
   * author and comment). Absent outside a run (tests, `cookbook rollback`).
   */
  run?: RunInfo;
}

/** The run an action belongs to. */
export interface RunInfo {
  id: string;
  user: string;
  host: string;
  task?: string;
  reason?: string;
}

/**
 * An action type: how to observe, plan, apply, verify and undo one change. `P` are the
 * parameters (plain JSON: they are journaled so that `cookbook rollback RUN` can rebuild the
 * action in a later process), `S` the observed state (plain JSON too, journaled as `before`).
 */
export interface ActionDefinition<P, S> {
  /** Unique and stable: journals refer to it (e.g. "etcd.set-key"). */
  kind: string;
  /** One line saying what the action does, e.g. "codfw: set /conftool/... = {...}". */
  describe(params: P): string;
  /** Reads the current state. Always safe: runs in dry-run too. */
  observe(params: P, env: ActionEnv): Promise<S>;
  /** What would change from `before`; [] means already done. Pure. */
  plan(params: P, before: S): Change[];
  /** Makes the change. Never called in a dry-run. */
  apply(params: P, before: S, env: ActionEnv): Promise<void>;
  /**
   * Checks the change holds. Default: observe again (with the deadline) until the plan is
   * empty, i.e. the desired state is what the system reports.
   */
  verify?(params: P, before: S, env: ActionEnv): Promise<void>;
  /** Restores `before`. Absent: the action is irreversible and always needs an explicit "go". */
  undo?(params: P, before: S, env: ActionEnv): Promise<void>;
  /**
   * Checks an undo restored `before`. Default: observe until `comparable(now)` equals
   * `comparable(before)`.
   */
  verifyUndo?(params: P, before: S, env: ActionEnv): Promise<void>;
  /** The part of the state that an undo must restore (default: all of it). */
  comparable?(state: S): unknown;
  /** Why it cannot be undone; shown in the confirmation. */
  irreversibleBecause?: string;
  /** How long verify polls (default 10 s). */
  verifyTimeoutMs?: number;
  /**
   * Checked before the undo runs: throws (a GuardError, naming what is at stake) when undoing
   * now would lose data, e.g. "the cluster that gets the writes back does not hold every
   * write acknowledged since". A failing guard leaves the action applied; the rollback goes
   * on with the actions that do not depend on it and the run ends with exit 93.
   */
  guardUndo?(params: P, before: S, env: ActionEnv): Promise<void>;
  /**
   * What the action changes, as a key shared by every action kind that changes the same
   * thing with the same state shape (e.g. "dns:conftool.wmnet:SRV"). With `after`, it lets a
   * dry-run plan a later action against the state earlier planned changes would leave.
   */
  resource?(params: P): string;
  /** The state this action leaves, given the state before it (pure; for the dry-run's plan). */
  after?(params: P, before: S): S;
}

/** An action instance: a definition and its parameters. */
export interface Action<P = unknown, S = unknown> {
  readonly definition: ActionDefinition<P, S>;
  readonly params: P;
  readonly summary: string;
  /** A name unique in the run (journaled), for `undoBefore`. */
  readonly id?: string;
  /**
   * Ids of earlier actions whose undo must wait for this one's: they are undone only after
   * this action was undone and verified, and stay applied (reported) if it could not be.
   */
  readonly undoBefore?: readonly string[];
}

// Erased view for heterogeneous lists; JSON in, JSON out.
export type AnyAction = Action<unknown, unknown>;

const registry = new Map<string, ActionDefinition<unknown, unknown>>();

/**
 * Declares an action type and returns its constructor. The type is registered by kind so
 * that a journal can rebuild the action (for `cookbook rollback RUN`).
 */
export function defineAction<P, S>(definition: ActionDefinition<P, S>): (params: P) => Action<P, S> {
  const existing = registry.get(definition.kind);
  if (existing && existing !== definition) throw new Error(`action kind ${definition.kind} is defined twice`);
  registry.set(definition.kind, definition as unknown as ActionDefinition<unknown, unknown>);
  return (params: P) => ({ definition, params, summary: definition.describe(params) });
}

/**
 * Names an action and orders its undo before the undo of earlier actions that depend on it
 * (the switchover: "make TO read-write" is undone before "make FROM read-only" may be).
 */
export function ordered<P, S>(
  action: Action<P, S>,
  o: { id: string; undoBefore?: readonly string[] },
): Action<P, S> {
  return { ...action, id: o.id, undoBefore: o.undoBefore };
}

/** Rebuilds an action from its journaled kind and parameters. */
export function actionFromJournal(
  kind: string,
  params: unknown,
  order: { id?: string; undoBefore?: readonly string[] } = {},
): AnyAction {
  const definition = registry.get(kind);
  if (!definition) {
    throw new Error(`unknown action kind "${kind}" in the journal: was the cookbook changed or removed?`);
  }
  return {
    definition,
    params,
    summary: definition.describe(params),
    ...(order.id ? { id: order.id } : {}),
    ...(order.undoBefore ? { undoBefore: order.undoBefore } : {}),
  };
}

export function isReversible(action: AnyAction): boolean {
  return typeof action.definition.undo === 'function';
}
