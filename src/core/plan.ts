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
      a: s.actions.map((a) => ({ k: a.kind, p: a.params, c: stable(a.changes) })),
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
    const changing = s.actions.filter((a) => a.changes.length);
    if (!changing.length) {
      lines.push('Already done: nothing to change.', '');
      return;
    }
    for (const a of changing) {
      lines.push(`- **${a.summary}**${a.irreversible ? ` — IRREVERSIBLE: ${a.irreversible}` : ''}`);
      for (const c of a.changes)
        lines.push(`  - \`${c.subject}\`: ${c.from} → ${c.to}${c.detail ? ` (${c.detail})` : ''}`);
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
  writeFileSync(markdown, planMarkdown(plan));
  writeFileSync(json, `${JSON.stringify(plan, null, 2)}\n`);
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
  return plan;
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
      if (
        JSON.stringify([ra?.kind, ra?.params, stable(ra?.changes ?? [])]) !==
        JSON.stringify([ca?.kind, ca?.params, stable(ca?.changes ?? [])])
      ) {
        drift.push(`step ${i + 1} "${c.title}": reviewed ${show(ra)}; now ${show(ca)}`);
      }
    }
  }
  if (!drift.length && reviewed.fingerprint !== now.fingerprint) drift.push('the fingerprint differs');
  return drift;
}
