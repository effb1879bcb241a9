import type { ActionEnv } from './action.js';
import {
  type ArgValues,
  type ChildCookbookStep,
  type ChildRun,
  type Cookbook,
  type CookbookContext,
  type LockSpec,
  type RunnableStep,
  type SafeState,
  type Step,
  parseArgs,
} from './cookbook.js';
import { CheckError, GalleyError, UsageError, formatError } from './errors.js';

/**
 * Nested cookbooks: a cookbook runs another as one of its steps (`ctx.runCookbook(name, args)`, as
 * spicerack's `run_cookbook`). The Runner expands such a step, before the first step runs,
 * into the child's own steps, each marked with the child run it belongs to (`within`). Every
 * pass of the Runner then treats them as the parent's steps: the dry-run plans them, the
 * confirmation asks about them, the journal records them (with the child they belong to), a
 * resume re-observes them and a rollback undoes their actions with the parent's, newest
 * first, so the children in reverse. One run, one journal, one lock set, one audit record.
 */

/** Finds a cookbook by its dotted name (the CLI's catalog; tests pass a map). */
export type ResolveCookbook = (name: string) => Promise<Cookbook>;

/** How deep children may nest (a cookbook that runs itself, directly or not, is refused anyway). */
export const MAX_CHILD_DEPTH = 4;

/** The raw form of `ctx.runCookbook`'s arguments: as they would be typed on the child's command line. */
export function rawChildArgs(
  args: Record<string, string | number | boolean | undefined> = {},
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(args)) out[k] = v === undefined || v === false ? undefined : String(v);
  return out;
}

/** The step `ctx.runCookbook(name, args)` returns. */
export function childCookbookStep(
  name: string,
  args: Record<string, string | number | boolean | undefined> = {},
): ChildCookbookStep {
  const raw = rawChildArgs(args);
  return { kind: 'cookbook', title: `Run ${childLabel(name, raw)}`, name, args: raw };
}

/** `etcd.member-remove conf2004.codfw.wmnet --allow-below-minimum`: the child as its command line reads. */
export function childLabel(
  name: string,
  raw: Record<string, string | undefined>,
  cookbook?: Pick<Cookbook, 'args'>,
): string {
  const words = [name];
  const positional = (k: string) => cookbook?.args[k]?.positional === true;
  for (const [k, v] of Object.entries(raw)) if (v !== undefined && positional(k)) words.push(v);
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined || positional(k)) continue;
    words.push(cookbook?.args[k]?.type === 'boolean' ? `--${k}` : `--${k}=${v}`);
  }
  return words.join(' ');
}

/** What expanding a cookbook's steps gives the Runner. */
export interface ExpandedSteps {
  steps: RunnableStep[];
  /** The children's locks (taken with the parent's; one of the same name is held once). */
  locks: { spec: LockSpec; child: ChildRun }[];
  /** The children's safe states, checked with the parent's at every end but "done". */
  safeStates: { safe: SafeState; child: ChildRun }[];
}

export interface ExpandOptions {
  /** The parent cookbook's name (a child of the same name is refused: it would never end). */
  parent: string;
  resolve?: ResolveCookbook;
  env: ActionEnv;
  /**
   * The context a child's steps see: the parent's environment and run, with its own
   * arguments, and facts and reports kept apart from the parent's under `scope`.
   */
  context(args: unknown, scope: string): CookbookContext<unknown>;
}

/**
 * Replaces every child-cookbook step, recursively, by the child's steps. A child's arguments
 * are parsed and checked here, before anything runs (a bad one is a UsageError naming the
 * child); an unknown child, a cookbook that runs itself, or nesting deeper than
 * MAX_CHILD_DEPTH is refused the same way.
 */
export async function expandSteps(
  steps: Step[],
  o: ExpandOptions,
  chain: readonly ChildRun[] = [],
  names: readonly string[] = [o.parent],
  scope = '',
): Promise<ExpandedSteps> {
  const out: ExpandedSteps = { steps: [], locks: [], safeStates: [] };
  for (const [i, s] of steps.entries()) {
    if (s.kind !== 'cookbook') {
      out.steps.push(chain.length ? { ...s, within: chain } : s);
      continue;
    }
    const where = chain.length ? ` (in ${chain[chain.length - 1]!.label})` : '';
    if (names.includes(s.name))
      throw new UsageError(
        `${names[names.length - 1]} runs ${s.name}${where}, which is already running in this run: a cookbook cannot run itself`,
      );
    if (chain.length >= MAX_CHILD_DEPTH)
      throw new UsageError(
        `${s.name}${where} would be nested ${chain.length + 1} deep: at most ${MAX_CHILD_DEPTH} levels of child cookbooks`,
      );
    if (!o.resolve)
      throw new GalleyError(
        `this run cannot run the child cookbook ${s.name}: no cookbook catalog was given to the Runner`,
      );
    const cookbook = await o.resolve(s.name);
    let args: ArgValues<typeof cookbook.args>;
    try {
      args = parseArgs(cookbook, s.args, o.env);
    } catch (e) {
      if (e instanceof UsageError || e instanceof CheckError)
        throw new UsageError(`child cookbook ${s.name}${where}: ${e.message}`, e.suggestions);
      throw new UsageError(`child cookbook ${s.name}${where}: ${formatError(e)}`);
    }
    const child: ChildRun = {
      cookbook: s.name,
      args: s.args,
      label: childLabel(s.name, s.args, cookbook),
      title: cookbook.title,
    };
    // Facts and reports of a child are kept apart: the position makes two runs of one child distinct.
    const childScope = `${scope}${s.name}#${i}/`;
    const ctx = o.context(args, childScope);
    const inner = await expandSteps(
      cookbook.steps(ctx as CookbookContext<typeof args>),
      o,
      [...chain, child],
      [...names, s.name],
      childScope,
    );
    const lock = cookbook.lock?.(args, o.env);
    if (lock) out.locks.push({ spec: lock, child });
    const safe = cookbook.safeState?.(ctx as CookbookContext<typeof args>);
    if (safe) out.safeStates.push({ safe, child });
    out.steps.push(...inner.steps);
    out.locks.push(...inner.locks);
    out.safeStates.push(...inner.safeStates);
  }
  return out;
}

/** How a step's heading reads: its title, after the child runs it belongs to. */
export function stepHeading(s: Pick<RunnableStep, 'title' | 'within'>): string {
  return s.within?.length ? `${s.within.map((c) => c.label).join(' › ')} › ${s.title}` : s.title;
}

/** The child runs that end and start between two consecutive steps (ended innermost first, started outermost first). */
export function childTransitions(
  prev: readonly ChildRun[] | undefined,
  next: readonly ChildRun[] | undefined,
): { ended: ChildRun[]; started: ChildRun[] } {
  const a = prev ?? [];
  const b = next ?? [];
  let common = 0;
  while (common < a.length && common < b.length && a[common] === b[common]) common++;
  return { ended: a.slice(common).reverse(), started: b.slice(common) };
}

/**
 * The parent's safe state and its children's as one (each distinct title once): it holds
 * when every one of them holds; what restores it is what restores each that does not.
 */
export function combinedSafeState(
  parent: SafeState | undefined,
  children: readonly { safe: SafeState; child: ChildRun }[],
): SafeState | undefined {
  const all: SafeState[] = [];
  for (const s of [...(parent ? [parent] : []), ...children.map((c) => c.safe)])
    if (!all.some((x) => x.title === s.title)) all.push(s);
  if (all.length <= 1) return all[0];
  return {
    title: all.map((s) => s.title).join('; and '),
    async check() {
      const problems: string[] = [];
      const lines: string[] = [];
      for (const s of all) {
        try {
          const msg = await s.check();
          if (msg) lines.push(msg);
        } catch (e) {
          problems.push(`${s.title}: ${formatError(e)}`);
        }
      }
      if (problems.length) throw new CheckError(problems.join('\n'));
      return lines.join('; ');
    },
    async restore(problem) {
      const out: string[] = [];
      for (const s of all) {
        const mine = problem
          .split('\n')
          .filter((l) => l.startsWith(`${s.title}: `))
          .map((l) => l.slice(s.title.length + 2));
        if (mine.length && s.restore) out.push(...(await s.restore(mine.join('\n'))));
      }
      return out;
    },
  };
}
