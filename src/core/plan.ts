import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Change } from './action.js';
import { UsageError } from './errors.js';
import { redactValue } from './secrets.js';

export interface PlannedAction {
  kind: string;
  summary: string;
  params: unknown;
  changes: Change[];
  irreversible?: string;
  /**
   * The change cannot be known before the earlier steps have run (nothing to change now, and
   * no way to tell what the earlier changes leave): it is decided at run time, never shown
   * as "already done".
   */
  atRunTime?: string;
}

export interface PlannedStep {
  title: string;
  kind: 'actions' | 'check';
  actions: PlannedAction[];
  /** For checks: the result seen now, or that it will run after the changes. */
  note?: string;
}

export interface Plan {
  cookbook: string;
  args: Record<string, string | undefined>;
  configFile?: string;
  createdAt: string;
  createdBy: string;
  steps: PlannedStep[];
  fingerprint: string;
}

/** Changes without their `detail` (values that move on their own are not part of what was reviewed). */
function stable(changes: Change[]): Omit<Change, 'detail'>[] {
  return changes.map(({ subject, from, to }) => ({ subject, from, to }));
}

/** A hash of what will change (steps, actions, parameters and changes; not times or people). */
export function fingerprint(
  cookbook: string,
  args: Record<string, string | undefined>,
  steps: PlannedStep[],
): string {
  const material = JSON.stringify({
    cookbook,
    args,
    steps: steps.map((s) => ({
      t: s.title,
      k: s.kind,
      a: s.actions.map((a) => ({
        k: a.kind,
        s: a.summary,
        p: a.params,
        c: stable(a.changes),
        i: a.irreversible ?? null,
        r: a.atRunTime ?? null,
      })),
    })),
  });
  return createHash('sha256').update(material).digest('hex');
}

export function makePlan(p: Omit<Plan, 'fingerprint'>): Plan {
  return redactValue({ ...p, fingerprint: fingerprint(p.cookbook, p.args, p.steps) });
}

/** The plan for a reviewer. */
export function planMarkdown(plan: Plan): string {
  const args = Object.entries(plan.args)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `--${k} ${v}`)
    .join(' ');
  const lines = [
    `# Plan: \`cookbook ${plan.cookbook}${args ? ` ${args}` : ''}\``,
    '',
    `- created ${plan.createdAt} by ${plan.createdBy}${plan.configFile ? `, config \`${plan.configFile}\`` : ''}`,
    `- fingerprint \`${plan.fingerprint}\``,
    `- run it with \`--plan <this plan's .json>\`: the run refuses to act if the world has drifted from this plan`,
    '',
  ];
  plan.steps.forEach((s, i) => {
    lines.push(`## ${i + 1}. ${s.title}`, '');
    if (s.kind === 'check') {
      lines.push(`Check: ${s.note ?? 'runs at this point'}`, '');
      return;
    }
    const changing = s.actions.filter((a) => a.changes.length || a.atRunTime);
    if (!changing.length) {
      lines.push(s.note ? `Cannot be planned yet: ${s.note}` : 'Already done: nothing to change.', '');
      return;
    }
    for (const a of changing) {
      lines.push(`- **${a.summary}**${a.irreversible ? ` — IRREVERSIBLE: ${a.irreversible}` : ''}`);
      for (const c of a.changes)
        lines.push(`  - \`${c.subject}\`: ${c.from} → ${c.to}${c.detail ? ` (${c.detail})` : ''}`);
      if (a.atRunTime) lines.push(`  - decided at run time: ${a.atRunTime}`);
    }
    lines.push('');
  });
  return lines.join('\n');
}

/** Writes `FILE` as Markdown and `FILE` with a .json extension as JSON; returns both paths. */
export function writePlan(file: string, plan: Plan): { markdown: string; json: string } {
  const base = file.replace(/\.(md|json)$/, '');
  const markdown = `${base}.md`;
  const json = `${base}.json`;
  writeFileSync(markdown, planMarkdown(plan), { mode: 0o600 });
  writeFileSync(json, `${JSON.stringify(plan, null, 2)}\n`, { mode: 0o600 });
  return { markdown, json };
}

/** Reads a reviewed plan (the .json, or the .md next to it). */
export function readPlan(file: string): Plan {
  const json = file.endsWith('.md') ? `${file.slice(0, -3)}.json` : file;
  let plan: Plan;
  try {
    plan = JSON.parse(readFileSync(json, 'utf8')) as Plan;
  } catch (e) {
    throw new UsageError(`cannot read plan ${json}: ${(e as Error).message}`, [
      'write one with --dry-run --plan-out FILE',
    ]);
  }
  if (!plan.fingerprint || !Array.isArray(plan.steps))
    throw new UsageError(`${json} is not a Galley plan (no fingerprint)`);
  let recomputed: string;
  try {
    recomputed = fingerprint(plan.cookbook, plan.args, plan.steps);
  } catch (e) {
    throw new UsageError(`${json} is not a valid Galley plan: ${(e as Error).message}`);
  }
  if (recomputed !== plan.fingerprint) {
    throw new UsageError(
      `${json} was changed after it was written: its content does not match its fingerprint; refusing a tampered plan`,
      ['write a new plan with --dry-run --plan-out FILE and have it reviewed again'],
    );
  }
  return plan;
}

/** The paths at which two JSON values differ, with both values (`datacenter: "codfw" → "eqiad"`). */
export function jsonDifferences(a: unknown, b: unknown, path = ''): string[] {
  const show = (v: unknown) => (v === undefined ? '(absent)' : JSON.stringify(v));
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';
  if (isObj(a) && isObj(b) && Array.isArray(a) === Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) =>
      jsonDifferences(a[k], b[k], Array.isArray(a) ? `${path}[${k}]` : path ? `${path}.${k}` : k),
    );
  }
  return [`${path || '(value)'}: ${show(a)} → ${show(b)}`];
}

/** Lines describing how `now` differs from the reviewed plan; [] when they match. */
export function planDrift(reviewed: Plan, now: Plan): string[] {
  const drift: string[] = [];
  if (reviewed.cookbook !== now.cookbook)
    drift.push(`the plan is for ${reviewed.cookbook}, not ${now.cookbook}`);
  if (JSON.stringify(reviewed.args) !== JSON.stringify(now.args)) {
    drift.push(
      `arguments differ: reviewed ${JSON.stringify(reviewed.args)}, now ${JSON.stringify(now.args)}`,
    );
  }
  const n = Math.max(reviewed.steps.length, now.steps.length);
  for (let i = 0; i < n; i++) {
    const r = reviewed.steps[i];
    const c = now.steps[i];
    if (!r || !c || r.title !== c.title) {
      drift.push(`step ${i + 1}: reviewed "${r?.title ?? '(none)'}", now "${c?.title ?? '(none)'}"`);
      continue;
    }
    const show = (a: PlannedAction | undefined) =>
      a
        ? `${a.summary}${a.changes.length ? ` [${a.changes.map((x) => `${x.subject}: ${x.from} → ${x.to}`).join('; ')}]` : ' [no change]'}`
        : '(none)';
    const m = Math.max(r.actions.length, c.actions.length);
    for (let j = 0; j < m; j++) {
      const ra = r.actions[j];
      const ca = c.actions[j];
      if (!ra || !ca || ra.kind !== ca.kind) {
        drift.push(`step ${i + 1} "${c.title}": reviewed ${show(ra)}; now ${show(ca)}`);
        continue;
      }
      const params = jsonDifferences(ra.params, ca.params);
      if (params.length)
        drift.push(
          `step ${i + 1} "${c.title}", ${ca.summary}: parameter ${params.join('; parameter ')} (reviewed → now)`,
        );
      if (
        JSON.stringify(stable(ra.changes)) !== JSON.stringify(stable(ca.changes)) ||
        (ra.atRunTime ?? '') !== (ca.atRunTime ?? '')
      ) {
        drift.push(`step ${i + 1} "${c.title}": reviewed ${show(ra)}; now ${show(ca)}`);
      }
    }
  }
  if (!drift.length && reviewed.fingerprint !== now.fingerprint) drift.push('the fingerprint differs');
  return drift;
}
