import type { ActionEnv, AnyAction, Change } from './action.js';
import { isReversible } from './action.js';
import type { Step } from './cookbook.js';
import { formatError } from './errors.js';
import type { Interrupts } from './interrupts.js';
import type { PlannedAction, PlannedStep } from './plan.js';

export const showChange = (c: Change): string =>
  `${c.subject}: ${c.from} → ${c.to}${c.detail ? ` (${c.detail})` : ''}`;

/** What the dry-run found: the plan of every step, and the checks that would fail now. */
export interface PlanPassResult {
  planned: PlannedStep[];
  failing: string[];
}

const AT_RUN_TIME =
  'nothing to change now, but earlier steps change things first: observed again when the step is reached';

/**
 * Observes every step and plans it, applying nothing. An action of a later step is planned
 * against the state the earlier planned changes leave, where its kind says what it changes
 * (`resource`) and what it leaves (`after`); where that cannot be known, it is shown as
 * decided at run time, never as "already done". A check runs too, unless an earlier step
 * would change something it may depend on.
 */
export async function planSteps(
  steps: Step[],
  env: ActionEnv,
  interrupts: Interrupts,
  say?: (line: string) => void,
): Promise<PlanPassResult> {
  const planned: PlannedStep[] = [];
  const failing: string[] = [];
  /** Planned states of the things earlier steps change. */
  const simulated = new Map<string, unknown>();
  /** Things earlier steps change in a way the dry-run cannot compute. */
  const unknown = new Set<string>();
  let changesBefore = false;
  for (const [i, s] of steps.entries()) {
    interrupts.check();
    say?.(`[${i + 1}/${steps.length}] ${s.title}`);
    if (s.kind === 'check') {
      let note: string;
      if (changesBefore) note = 'runs after the changes above';
      else {
        try {
          const msg = await s.run();
          note = `holds now${msg ? `: ${msg}` : ''}`;
        } catch (e) {
          interrupts.check();
          note = `DOES NOT HOLD NOW: ${formatError(e)}`;
          failing.push(`step ${i + 1} "${s.title}": ${formatError(e)}`);
        }
      }
      if (say) {
        const [first, ...rest] = note.split('\n');
        say(`    check: ${first}${rest.length ? `\n${rest.join('\n').replace(/^/gm, '      ')}` : ''}`);
      }
      planned.push({ title: s.title, kind: 'check', actions: [], note });
      continue;
    }
    let actions: AnyAction[];
    try {
      actions = await s.build();
    } catch (e) {
      interrupts.check();
      const note = changesBefore
        ? `decided at run time (cannot be planned before the changes above: ${formatError(e)})`
        : formatError(e);
      if (!changesBefore) failing.push(`step ${i + 1} "${s.title}": ${formatError(e)}`);
      say?.(`    ? ${note}`);
      planned.push({ title: s.title, kind: 'actions', actions: [], note });
      continue;
    }
    const pa: PlannedAction[] = [];
    for (const a of actions) pa.push(await planAction(a, env, simulated, unknown, changesBefore));
    for (const p of pa) {
      if (!say || (!p.changes.length && !p.atRunTime)) continue;
      say(`    · ${p.summary}${p.irreversible ? '  [IRREVERSIBLE]' : ''}`);
      for (const c of p.changes) say(`        ${showChange(c)}`);
      if (p.atRunTime) say(`        decided at run time: ${p.atRunTime}`);
    }
    if (pa.some((a) => a.changes.length || a.atRunTime)) changesBefore = true;
    else say?.('    = already done: nothing to change');
    planned.push({ title: s.title, kind: 'actions', actions: pa });
  }
  return { planned, failing };
}

async function planAction(
  a: AnyAction,
  env: ActionEnv,
  simulated: Map<string, unknown>,
  unknown: Set<string>,
  changesBefore: boolean,
): Promise<PlannedAction> {
  const d = a.definition;
  const resource = d.resource?.(a.params);
  const fromPlan = resource !== undefined && simulated.has(resource);
  const before = fromPlan ? simulated.get(resource) : await d.observe(a.params, env);
  const changes = d.plan(a.params, before);
  let atRunTime: string | undefined;
  if (resource !== undefined && unknown.has(resource))
    atRunTime = 'the earlier steps change this first, in a way only the run can observe';
  else if (!changes.length && changesBefore && !fromPlan) atRunTime = AT_RUN_TIME;
  if (resource !== undefined && changes.length) {
    if (d.after && !unknown.has(resource)) simulated.set(resource, d.after(a.params, before));
    else {
      simulated.delete(resource);
      unknown.add(resource);
    }
  }
  return {
    kind: d.kind,
    summary: a.summary,
    params: a.params,
    changes,
    irreversible: isReversible(a) ? undefined : (d.irreversibleBecause ?? 'no undo'),
    ...(atRunTime ? { atRunTime } : {}),
  };
}
