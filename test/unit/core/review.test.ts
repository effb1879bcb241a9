import { describe, expect, test } from '@jest/globals';
import type { GalleyConfig } from '../../../src/config/schema.js';
import { UsageError } from '../../../src/core/errors.js';
import { makePlan } from '../../../src/core/plan.js';
import { approvalStatus, approvePlan, checkReview, reviewRequired } from '../../../src/core/review.js';

const plan = makePlan({
  cookbook: 'etcd.switchover',
  args: { from: 'codfw', to: 'eqiad' },
  createdAt: '2026-12-01T10:00:00Z',
  createdBy: 'carol@cumin1002',
  steps: [
    {
      title: 'Make codfw read-only',
      kind: 'actions',
      actions: [
        {
          kind: 'proxy.mode',
          summary: 'codfw read-only',
          params: { dc: 'codfw' },
          changes: [{ subject: 'codfw', from: 'read-write', to: 'read-only' }],
        },
      ],
    },
  ],
});
const config = (required: 'all' | string[]) =>
  ({ file: '/env.yaml', review: { required } }) as unknown as GalleyConfig;

describe('approvals are bound to the plan', () => {
  test('an approved plan records who, when and the fingerprint', () => {
    const a = approvePlan(plan, 'bob@cumin2002', new Date('2026-12-01T11:00:00Z'));
    expect(a.approval).toEqual({
      by: 'bob@cumin2002',
      at: '2026-12-01T11:00:00.000Z',
      fingerprint: plan.fingerprint,
    });
    expect(approvalStatus(a)).toEqual({
      state: 'approved',
      by: 'bob@cumin2002',
      at: '2026-12-01T11:00:00.000Z',
    });
  });

  test('an edited plan loses its approval', () => {
    const a = approvePlan(plan, 'bob@cumin2002');
    const edited = structuredClone(a);
    edited.steps[0]!.actions[0]!.changes[0]!.to = 'read-write';
    expect(approvalStatus(edited)).toMatchObject({
      state: 'void',
      why: expect.stringContaining('edited after it was approved'),
    });
    const refingerprinted = { ...edited, fingerprint: 'f'.repeat(64) };
    expect(approvalStatus(refingerprinted).state).toBe('void');
    expect(() => checkReview(config('all'), 'etcd.switchover', edited, 'alice')).toThrow(/no longer holds/);
  });

  test('a plan whose content does not match its fingerprint cannot be approved', () => {
    const edited = structuredClone(plan);
    edited.args.to = 'esams';
    expect(() => approvePlan(edited, 'bob@x')).toThrow(UsageError);
  });
});

describe('checkReview', () => {
  const approved = approvePlan(plan, 'bob@cumin2002');
  test('not required: any run goes ahead, and a valid approver is still named', () => {
    expect(checkReview(config(['etcd.member-add']), 'etcd.switchover', undefined, 'alice')).toEqual({
      required: false,
      approvedBy: undefined,
    });
    expect(checkReview(undefined, 'etcd.switchover', approved, 'alice')).toEqual({
      required: false,
      approvedBy: 'bob@cumin2002',
    });
  });

  test('required: refused without a plan, with an unapproved plan, or one approved by the runner (exit 2)', () => {
    const refused = (p: typeof plan | undefined, user: string) => {
      try {
        checkReview(config('all'), 'etcd.switchover', p, user);
      } catch (e) {
        return { code: (e as UsageError).exitCode, message: (e as Error).message };
      }
      return undefined;
    };
    expect(refused(undefined, 'alice')).toEqual({
      code: 2,
      message: expect.stringContaining('run it with --plan FILE.json'),
    });
    expect(refused(plan, 'alice')).toEqual({
      code: 2,
      message: expect.stringContaining('has not been approved'),
    });
    expect(refused(approved, 'bob')).toEqual({
      code: 2,
      message: expect.stringContaining('approved by bob@cumin2002, who is the one running it'),
    });
    expect(refused({ ...approved, cookbook: 'etcd.member-add' }, 'alice')?.message).toContain(
      'the plan given is for etcd.member-add',
    );
  });

  test('required: accepted with a plan approved by someone else', () => {
    expect(checkReview(config(['etcd.switchover']), 'etcd.switchover', approved, 'alice')).toEqual({
      required: true,
      approvedBy: 'bob@cumin2002',
    });
  });

  test('a resumed run keeps the approval it was started with', () => {
    expect(checkReview(config('all'), 'etcd.switchover', undefined, 'alice', 'bob@cumin2002')).toEqual({
      required: true,
      approvedBy: 'bob@cumin2002',
    });
  });

  test('review.required is "all" or a list of cookbooks', () => {
    expect(reviewRequired(config('all'), 'x')).toBe(true);
    expect(reviewRequired(config(['a']), 'a')).toBe(true);
    expect(reviewRequired(config(['a']), 'b')).toBe(false);
  });
});
