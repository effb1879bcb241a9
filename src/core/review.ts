/**
 * Two-person review of plans: `cookbook plan approve FILE.json` records in the plan who
 * approved it, when, and the fingerprint they approved; with `review: required` for a cookbook
 * (or `all`), a live run needs `--plan` with a plan approved by someone other than the runner.
 * An approval is bound to the plan's content: the fingerprint is computed afresh from the
 * steps, so a plan edited after its approval has none.
 */
import { hostname } from 'node:os';
import type { GalleyConfig } from '../config/schema.js';
import { UsageError } from './errors.js';
import { currentUser } from './lock.js';
import { type Plan, fingerprint } from './plan.js';

/** Who approved a plan, when, and what they approved. */
export interface PlanApproval {
  /** `user@host` of the approver. */
  by: string;
  at: string;
  fingerprint: string;
}

/** A plan as read from its file: possibly with an approval. */
export type ReviewedPlan = Plan & { approval?: PlanApproval };

/** The fingerprint of what a plan file says it will do (not the `fingerprint` field it carries). */
export function contentFingerprint(plan: Plan): string {
  return fingerprint(plan.cookbook, plan.args, plan.steps);
}

export type ApprovalStatus =
  | { state: 'approved'; by: string; at: string }
  | { state: 'none' }
  /** The plan changed after it was approved (its content, or its fingerprint field). */
  | { state: 'void'; by: string; at: string; why: string };

export function approvalStatus(plan: ReviewedPlan): ApprovalStatus {
  const a = plan.approval;
  if (!a || typeof a.by !== 'string' || typeof a.fingerprint !== 'string') return { state: 'none' };
  const content = contentFingerprint(plan);
  if (a.fingerprint !== content)
    return {
      state: 'void',
      by: a.by,
      at: a.at,
      why: 'the plan was edited after it was approved (its content no longer has the approved fingerprint)',
    };
  if (plan.fingerprint !== content)
    return {
      state: 'void',
      by: a.by,
      at: a.at,
      why: "the plan's fingerprint field does not match its content",
    };
  return { state: 'approved', by: a.by, at: a.at };
}

/** Adds (or replaces) the approval of `by`; refuses a plan whose content does not match its fingerprint. */
export function approvePlan(
  plan: ReviewedPlan,
  by = `${currentUser()}@${hostname()}`,
  now = new Date(),
): ReviewedPlan {
  const content = contentFingerprint(plan);
  if (content !== plan.fingerprint) {
    throw new UsageError(
      "this plan's content does not match its fingerprint: it was edited after it was written, so it cannot be approved",
      ['write it again with --dry-run --plan-out FILE and review that one'],
    );
  }
  return { ...plan, approval: { by, at: now.toISOString(), fingerprint: content } };
}

/** Whether `review.required` names this cookbook. */
export function reviewRequired(config: GalleyConfig | undefined, cookbook: string): boolean {
  const r = config?.review?.required;
  return r === 'all' || (Array.isArray(r) && r.includes(cookbook));
}

const userOf = (userAtHost: string) => userAtHost.split('@')[0] ?? userAtHost;

export interface ReviewDecision {
  required: boolean;
  /** The approver (`user@host`), when the plan carries a valid approval. */
  approvedBy?: string;
}

/**
 * Decides whether a live run may go ahead: with review required it needs a plan for this
 * cookbook approved, with its current content, by a user other than `user`. Throws UsageError
 * (exit 2, nothing changed) otherwise. `resumedApprovedBy` is the approver an interrupted run
 * was started with (a resume carries no --plan).
 */
export function checkReview(
  config: GalleyConfig | undefined,
  cookbook: string,
  plan: ReviewedPlan | undefined,
  user: string,
  resumedApprovedBy?: string,
): ReviewDecision {
  const status = plan ? approvalStatus(plan) : undefined;
  const approvedBy = status?.state === 'approved' ? status.by : undefined;
  if (!reviewRequired(config, cookbook)) return { required: false, approvedBy };
  if (!plan && resumedApprovedBy) return { required: true, approvedBy: resumedApprovedBy };
  const how = [
    `write the plan: cookbook ${cookbook} … --dry-run --plan-out FILE`,
    'have a second person review FILE.md and run: cookbook plan approve FILE.json',
    `then run it: cookbook ${cookbook} … --plan FILE.json`,
  ];
  const prefix = `${cookbook} needs a plan approved by a second person (review.required in ${config?.file ?? 'the environment file'})`;
  if (!plan) throw new UsageError(`${prefix}: run it with --plan FILE.json`, how);
  if (plan.cookbook !== cookbook)
    throw new UsageError(`${prefix}: the plan given is for ${plan.cookbook}`, how);
  if (status?.state === 'none') throw new UsageError(`${prefix}: the plan has not been approved`, how);
  if (status?.state === 'void')
    throw new UsageError(`${prefix}: the approval by ${status.by} no longer holds: ${status.why}`, how);
  if (userOf(approvedBy!) === user) {
    throw new UsageError(`${prefix}: it was approved by ${approvedBy}, who is the one running it`, [
      'ask someone else to review it and run: cookbook plan approve FILE.json',
    ]);
  }
  return { required: true, approvedBy };
}

/** The approval section of a plan's Markdown. */
export function approvalMarkdown(plan: ReviewedPlan): string {
  const s = approvalStatus(plan);
  if (s.state === 'approved')
    return `## Approval\n\nApproved by **${s.by}** at ${s.at} (fingerprint \`${plan.fingerprint.slice(0, 12)}\`, matches the content).\n`;
  if (s.state === 'void') return `## Approval\n\n**VOID**: approved by ${s.by} at ${s.at}, but ${s.why}.\n`;
  return '## Approval\n\nNot approved yet: the reviewer runs `cookbook plan approve FILE.json`.\n';
}
