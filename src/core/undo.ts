import type { ActionEnv } from './action.js';
import { isReversible } from './action.js';
import { GuardError, formatError } from './errors.js';
import type { ActionStatus, Journal } from './journal.js';
import type { AppliedRecord } from './session.js';
import { verifyUndone } from './verify.js';

/** An action a rollback left applied, and why. */
export interface LeftApplied {
  record: AppliedRecord;
  why: string;
}

export interface UndoResult {
  ok: boolean;
  /** Still applied, newest first. */
  left: LeftApplied[];
  /** One line: what failed first. */
  message?: string;
}

const describeLeft = (l: LeftApplied) => `step ${l.record.step + 1}: ${l.record.action.summary} — ${l.why}`;

/**
 * Undoes applied actions newest first, verifying each restored its `before` state. It does
 * not stop at an undo that fails: it goes on with every action that does not depend on it
 * (an action's `undoBefore` names the earlier actions that wait for its undo), then reports
 * exactly what is still applied. An undo guard that refuses (data would be lost) leaves its
 * action applied the same way. Undone records are removed from `applied`.
 */
export async function undoApplied(
  applied: AppliedRecord[],
  env: ActionEnv,
  journal: Journal,
  say: (line: string) => void,
): Promise<UndoResult> {
  const todo = [...applied].reverse();
  if (!todo.length) {
    say('↩ nothing to roll back: no action was applied');
    return { ok: true, left: [] };
  }
  say(`↩ rolling back ${todo.length} applied action${todo.length === 1 ? '' : 's'}, newest first`);
  const left: LeftApplied[] = [];
  /** Ids whose undo did not happen: the earlier actions they name must wait. */
  const blocking = new Map<string, string>();
  /**
   * Resources a later action still holds changed: an earlier change to the same resource is not
   * undone under it (its `before` predates the later change, and undoing it now would leave a
   * mix that neither action's undo can restore: the TTL of a record set that stays changed).
   */
  const heldResources = new Map<string, string>();
  const resourceOf = (r: AppliedRecord) => r.action.definition.resource?.(r.action.params);
  for (const r of todo) {
    const a = r.action;
    const d = a.definition;
    const entry = (status: ActionStatus, error?: string) =>
      journal.write({
        type: 'action',
        time: new Date().toISOString(),
        step: r.step,
        index: r.index,
        kind: d.kind,
        params: a.params,
        summary: a.summary,
        before: r.before,
        ...(a.id ? { id: a.id } : {}),
        ...(a.undoBefore ? { undoBefore: a.undoBefore } : {}),
        ...(r.within ? { within: [...r.within] } : {}),
        changes: [],
        status,
        error,
      });
    const keep = (status: ActionStatus, why: string) => {
      entry(status, why);
      left.push({ record: r, why });
      for (const id of a.undoBefore ?? []) if (!blocking.has(id)) blocking.set(id, a.summary);
      const resource = resourceOf(r);
      if (resource !== undefined && !heldResources.has(resource)) heldResources.set(resource, a.summary);
      say(`  ✗ still applied: ${a.summary} — ${why}`);
    };
    const waitsFor = a.id ? blocking.get(a.id) : undefined;
    if (waitsFor !== undefined) {
      keep('undo-withheld', `not undone: it waits for the undo of "${waitsFor}", which did not happen`);
      continue;
    }
    const heldBy = heldResources.get(resourceOf(r) ?? '');
    if (heldBy !== undefined) {
      keep('undo-withheld', `not undone: a later change to the same thing ("${heldBy}") is still applied`);
      continue;
    }
    if (!isReversible(a)) {
      keep('cannot-undo', `cannot be undone${d.irreversibleBecause ? ` (${d.irreversibleBecause})` : ''}`);
      continue;
    }
    try {
      await d.guardUndo?.(a.params, r.before, env);
    } catch (e) {
      keep('guard-refused', `undo refused to protect data: ${formatError(e)}`);
      if (!(e instanceof GuardError)) env.log.debug(`guard of ${d.kind} threw ${String(e)}`);
      continue;
    }
    try {
      entry('undoing');
      await d.undo!(a.params, r.before, env);
      await verifyUndone(a, r.before, env);
      entry('undone');
      applied.splice(applied.indexOf(r), 1);
      say(`  ↩ undone and verified: ${a.summary}`);
    } catch (e) {
      keep('undo-failed', `undo failed: ${formatError(e)}`);
    }
  }
  if (!left.length) {
    say('↩ rollback complete: everything applied was restored and verified');
    return { ok: true, left };
  }
  say(
    `✗ ROLLBACK INCOMPLETE: ${left.length} action${left.length === 1 ? '' : 's'} still applied (undo these by hand, newest first, or fix the cause and run \`cookbook rollback ${journal.runId}\` again):`,
  );
  for (const l of left) say(`    - ${describeLeft(l)}  (before: ${JSON.stringify(l.record.before)})`);
  say(`  the journal ${journal.file} records the state observed before each of them`);
  return {
    ok: false,
    left,
    message: `rollback incomplete: ${left.length} action(s) still applied; first: ${describeLeft(left[0]!)}`,
  };
}
