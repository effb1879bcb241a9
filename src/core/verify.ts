import { waitUntil } from '../util/wait.js';
import type { ActionEnv, AnyAction } from './action.js';
import { CheckError } from './errors.js';
import { isTransient } from './transient.js';

const DEFAULT_VERIFY_MS = 10_000;

/** Verifies an applied action: its own verify, or "observe until the plan is empty". */
export async function verifyApplied(a: AnyAction, before: unknown, env: ActionEnv): Promise<void> {
  const d = a.definition;
  if (d.verify) return d.verify(a.params, before, env);
  await waitUntil({
    what: a.summary,
    probe: () => d.observe(a.params, env),
    until: (now) => d.plan(a.params, now).length === 0,
    timeoutMs: d.verifyTimeoutMs ?? DEFAULT_VERIFY_MS,
    retryOn: isTransient,
    signal: env.signal,
    timeoutError: (m) => new CheckError(m),
  });
}

/** What an undo must restore of a state (`comparable`, or all of it), as comparable text. */
export function restorable(a: AnyAction, state: unknown): string {
  const d = a.definition;
  return JSON.stringify(d.comparable ? d.comparable(state) : state);
}

/** Verifies an undo: its own verifyUndo, or "observe until the state equals `before`". */
export async function verifyUndone(a: AnyAction, before: unknown, env: ActionEnv): Promise<void> {
  const d = a.definition;
  if (d.verifyUndo) return d.verifyUndo(a.params, before, env);
  const wanted = restorable(a, before);
  await waitUntil({
    what: `undo of "${a.summary}"`,
    probe: () => d.observe(a.params, env),
    until: (now) => restorable(a, now) === wanted,
    timeoutMs: d.verifyTimeoutMs ?? DEFAULT_VERIFY_MS,
    retryOn: isTransient,
    signal: env.signal,
    timeoutError: (m) => new CheckError(m),
  });
}
