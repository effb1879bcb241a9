import { waitUntil } from '../util/wait.js';
import type { ActionEnv, AnyAction } from './action.js';
import type { Step } from './cookbook.js';
import { formatError } from './errors.js';
import type { Interrupts } from './interrupts.js';
import { showChange } from './plan-pass.js';
import type { RunSession } from './session.js';
import { isTransient } from './transient.js';
import { restorable } from './verify.js';

/**
 * Before a resume goes on, the steps the journal records as done are observed again: each
 * action must still hold (the last one to change a thing, where several do), and each
 * check must still pass. Returns the drift (empty: the world is what the journal says).
 */
export async function recheckDoneSteps(
  steps: Step[],
  doneSteps: ReadonlySet<number>,
  env: ActionEnv,
  interrupts: Interrupts,
): Promise<string[]> {
  const drift: string[] = [];
  const lastWriter = new Map<string, { step: number; title: string; action: AnyAction }>();
  for (const [i, s] of steps.entries()) {
    if (!doneSteps.has(i)) continue;
    interrupts.check();
    if (s.kind === 'check') {
      try {
        await waitUntil({
          what: s.title,
          probe: () => s.run(),
          timeoutMs: s.timeoutMs,
          intervalMs: s.intervalMs,
          maxIntervalMs: s.intervalMs,
          retryOn: isTransient,
          signal: env.signal,
        });
      } catch (e) {
        interrupts.check();
        drift.push(
          `step ${i + 1} "${s.title}" (a check, passed before): does not hold any more: ${formatError(e).split('\n')[0]}`,
        );
      }
      continue;
    }
    let actions: AnyAction[];
    try {
      actions = await s.build();
    } catch (e) {
      drift.push(`step ${i + 1} "${s.title}": cannot be observed again: ${formatError(e).split('\n')[0]}`);
      continue;
    }
    for (const a of actions) {
      const key = a.definition.resource?.(a.params) ?? `${a.definition.kind}:${JSON.stringify(a.params)}`;
      lastWriter.set(key, { step: i, title: s.title, action: a });
    }
  }
  for (const { step, title, action } of lastWriter.values()) {
    interrupts.check();
    try {
      const now = await action.definition.observe(action.params, env);
      const changes = action.definition.plan(action.params, now);
      if (changes.length)
        drift.push(
          `step ${step + 1} "${title}": journaled as done, but now ${action.summary} would change ${changes.map(showChange).join('; ')}`,
        );
    } catch (e) {
      interrupts.check();
      drift.push(
        `step ${step + 1} "${title}": ${action.summary} cannot be observed: ${formatError(e).split('\n')[0]}`,
      );
    }
  }
  return drift;
}

/**
 * Undos an earlier attempt journaled as failed, or started and never finished, are observed
 * again: when the state is back to `before` after all, the action is journaled as undone
 * and no longer counts as applied, and its step is no longer done. Returns those steps.
 */
export async function recheckFailedUndos(session: RunSession, env: ActionEnv): Promise<number[]> {
  const undoneSteps: number[] = [];
  for (const r of [...session.applied]) {
    if (r.last !== 'undo-failed' && r.last !== 'undoing') continue;
    let now: unknown;
    try {
      now = await r.action.definition.observe(r.action.params, env);
    } catch {
      continue;
    }
    if (restorable(r.action, now) !== restorable(r.action, r.before)) continue;
    session.journal.write({
      type: 'action',
      time: session.now(),
      step: r.step,
      index: r.index,
      kind: r.action.definition.kind,
      params: r.action.params,
      summary: r.action.summary,
      before: r.before,
      changes: [],
      status: 'undone',
      error: 'observed again: the undo had taken effect',
    });
    session.applied.splice(session.applied.indexOf(r), 1);
    undoneSteps.push(r.step);
    session.say(`  ↩ observed again: the undo of "${r.action.summary}" had taken effect`);
  }
  return undoneSteps;
}
