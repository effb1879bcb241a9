import type { ActionEnv, AnyAction } from './action.js';
import { isReversible } from './action.js';
import { formatError } from './errors.js';
import type { Journal } from './journal.js';
import { observeUntil } from './verify.js';

export interface AppliedRecord {
  step: number;
  index: number;
  action: AnyAction;
  before: unknown;
}

/**
 * Undoes applied actions newest first, verifying each restored its `before` state. Stops
 * at the first action that cannot be undone or whose undo fails: what is left is printed
 * and journaled (the caller exits 93). Undone records are removed from `applied`.
 */
export async function undoApplied(
  applied: AppliedRecord[],
  env: ActionEnv,
  journal: Journal,
  w: (line: string) => void,
): Promise<{ ok: true } | { ok: false; message: string }> {
  const todo = [...applied].reverse();
  if (!todo.length) {
    w('↩ nothing to roll back: no action was applied');
    return { ok: true };
  }
  w(`↩ rolling back ${todo.length} applied action${todo.length === 1 ? '' : 's'}, newest first`);
  for (const r of todo) {
    const d = r.action.definition;
    const entry = (status: 'undone' | 'undo-failed' | 'cannot-undo', error?: string) =>
      journal.write({
        type: 'action',
        time: new Date().toISOString(),
        step: r.step,
        index: r.index,
        kind: d.kind,
        params: r.action.params,
        summary: r.action.summary,
        before: r.before,
        changes: [],
        status,
        error,
      });
    let failure: string | undefined;
    if (!isReversible(r.action)) {
      entry('cannot-undo');
      failure = `"${r.action.summary}" cannot be undone${d.irreversibleBecause ? ` (${d.irreversibleBecause})` : ''}`;
    } else {
      try {
        await d.undo!(r.action.params, r.before, env);
        if (d.verifyUndo) await d.verifyUndo(r.action.params, r.before, env);
        else {
          const same = (s: unknown) => JSON.stringify(d.comparable ? d.comparable(s) : s);
          await observeUntil(
            `undo of "${r.action.summary}"`,
            () => d.observe(r.action.params, env),
            (now) => same(now) === same(r.before),
            d.verifyTimeoutMs ?? 10_000,
          );
        }
        entry('undone');
        applied.splice(applied.indexOf(r), 1);
        w(`  ↩ undone and verified: ${r.action.summary}`);
        continue;
      } catch (e) {
        entry('undo-failed', formatError(e));
        failure = `undo of "${r.action.summary}" failed: ${formatError(e)}`;
      }
    }
    w(`✗ ROLLBACK FAILED: ${failure}`);
    w('  still applied (undo these by hand, newest first):');
    for (const left of [...applied].reverse())
      w(`    - step ${left.step + 1}: ${left.action.summary}  (before: ${JSON.stringify(left.before)})`);
    w(`  the journal ${journal.file} records the state observed before each of them`);
    return { ok: false, message: failure };
  }
  w('↩ rollback complete: everything applied was restored and verified');
  return { ok: true };
}
