import { beforeEach, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { arg, check, defineCookbook, step } from '../../../src/core/cookbook.js';
import { CheckError, ExitCode } from '../../../src/core/errors.js';
import { readJournal, journalState } from '../../../src/core/journal.js';
import { scriptedPrompter } from '../../../src/core/prompt.js';
import { rollbackRun, runCookbook } from '../../../src/core/runner.js';
import { registerSecret } from '../../../src/core/secrets.js';
import { memoryLogger } from '../../../src/core/log.js';
import { defineAction } from '../../../src/core/action.js';
import { options, resetWorld, setKey, wipe, world } from './fakes.js';

const threeSteps = defineCookbook({
  title: 'three steps',
  args: {},
  lock: () => ({ name: 'three' }),
  steps: () => [
    step('first', [setKey({ key: 'a', value: '1' })]),
    step('second', [setKey({ key: 'b', value: '2' }), setKey({ key: 'c', value: '3' })]),
    step('third', [setKey({ key: 'd', value: '4' })]),
  ],
});

beforeEach(() => {
  resetWorld();
});

/** Sets a key like setKey, but its undo always fails: a later change that stays applied. */
const stubbornSet = defineAction<{ key: string; value: string }, { value: string | null }>({
  kind: 'test.stubborn-set-key',
  describe: (p) => `set ${p.key} = ${p.value} (for good)`,
  observe: async (p) => ({ value: world.data.get(p.key) ?? null }),
  plan: (p, before) => [{ subject: p.key, from: before.value ?? 'absent', to: p.value }],
  async apply(p) {
    world.log.push(`apply ${p.key}`);
    world.data.set(p.key, p.value);
  },
  async undo(p) {
    world.log.push(`undo ${p.key}`);
    throw new Error(`${p.key} cannot be restored`);
  },
  verifyTimeoutMs: 200,
  resource: (p) => `kv:${p.key}`,
  after: (p) => ({ value: p.value }),
});

describe('dry-run', () => {
  test('observes and prints every step but applies nothing', async () => {
    world.data.set('a', '0');
    const { o, text } = options(threeSteps, { dryRun: true });
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(0);
    expect(r.outcome).toBe('dry-run');
    expect(world.log).toEqual([]);
    expect([...world.data]).toEqual([['a', '0']]);
    expect(text()).toContain('a: 0 → 1');
    expect(text()).toContain('d: absent → 4');
    expect(r.plan?.steps.map((s) => s.actions.length)).toEqual([1, 2, 1]);
  });

  test('never takes the lock', async () => {
    const { o, locks } = options(threeSteps, { dryRun: true });
    await runCookbook(o);
    expect(locks.holders('three')).toEqual([]);
  });

  test('reports a check that would fail now with exit 1', async () => {
    const cb = defineCookbook({
      title: 'check',
      args: {},
      steps: () => [
        check('a is set', async () => {
          if (!world.data.has('a')) throw new CheckError('a is missing');
        }),
      ],
    });
    const { o, text } = options(cb, { dryRun: true });
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(1);
    expect(text()).toContain('DOES NOT HOLD NOW: a is missing');
  });
});

describe('confirmation', () => {
  test('go applies the step, skip leaves it, abort stops the run', async () => {
    const { o } = options(threeSteps, { yes: false, prompter: scriptedPrompter(['go', 'skip', 'abort']) });
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(ExitCode.FAILED);
    expect(r.outcome).toBe('aborted');
    expect([...world.data.keys()]).toEqual(['a']);
    expect(world.log).toEqual(['apply a']);
  });

  test('a step whose plan is empty is reported as already done and not applied or asked about', async () => {
    world.data.set('a', '1');
    const prompter = scriptedPrompter(['go', 'go']);
    const { o, text } = options(threeSteps, { yes: false, prompter });
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(0);
    expect(text()).toContain('already done');
    expect(world.log).toEqual(['apply b', 'apply c', 'apply d']);
    expect(prompter.asked).toHaveLength(2);
  });

  test('a closed stdin (no answer) never counts as yes', async () => {
    const { o } = options(threeSteps, { yes: false, prompter: scriptedPrompter([]) });
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(ExitCode.FAILED);
    expect(world.log).toEqual([]);
  });

  test('an irreversible action is announced as such before it is confirmed', async () => {
    world.data.set('x', 'data');
    const cb = defineCookbook({
      title: 'wipe',
      args: {},
      steps: () => [step('wipe x', [wipe({ key: 'x' })])],
    });
    const prompter = scriptedPrompter(['go']);
    const { o, text } = options(cb, { yes: false, prompter });
    await runCookbook(o);
    expect(prompter.asked[0]).toContain('CANNOT BE UNDONE');
    expect(text()).toContain('[IRREVERSIBLE]');
    expect(world.data.has('x')).toBe(false);
  });
});

describe('failure and rollback', () => {
  test('a failure rolls back every applied action in reverse order, verifying each', async () => {
    world.data.set('b', 'old');
    world.failApply.add('d');
    const { o, text } = options(threeSteps);
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(ExitCode.FAILED);
    expect(r.outcome).toBe('rolled-back');
    expect(world.log).toEqual([
      'apply a',
      'apply b',
      'apply c',
      'apply d',
      'undo d',
      'undo c',
      'undo b',
      'undo a',
    ]);
    expect([...world.data]).toEqual([['b', 'old']]);
    expect(text()).toContain('rollback complete');
  });

  test('a verification that does not hold is a failure', async () => {
    world.lieApply.add('b');
    const { o, text } = options(threeSteps);
    const r = await runCookbook(o);
    expect(r.outcome).toBe('rolled-back');
    expect(text()).toContain('verification of "set b = 2" failed');
    expect(world.data.size).toBe(0);
  });

  test('--on-failure abort leaves applied actions in place and says how to resume or roll back', async () => {
    world.failApply.add('c');
    const { o } = options(threeSteps, { onFailure: 'abort' });
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(ExitCode.FAILED);
    expect(r.outcome).toBe('aborted');
    expect(r.message).toContain(`cookbook resume ${r.runId}`);
    expect(world.data.get('a')).toBe('1');
  });

  test('interactive retry applies the failed action again', async () => {
    world.failApply.add('c');
    world.onApply = (key) => {
      if (key === 'c' && world.log.filter((l) => l === 'apply c').length > 1) world.failApply.delete('c');
    };
    const { o } = options(threeSteps, {
      yes: false,
      prompter: scriptedPrompter(['go', 'go', 'retry', 'go', 'go']),
    });
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(0);
    expect(world.data.get('c')).toBe('3');
  });

  test('a failing undo does not stop the rollback: the others are undone, exit 93 names what is left', async () => {
    world.failApply.add('d');
    world.failUndo.add('b');
    const { o, text } = options(threeSteps);
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(ExitCode.ROLLBACK_FAILED);
    expect(r.outcome).toBe('rollback-failed');
    expect(world.log).toEqual([
      'apply a',
      'apply b',
      'apply c',
      'apply d',
      'undo d',
      'undo c',
      'undo b',
      'undo a',
    ]);
    const left = journalState(readJournal(o.stateDir, r.runId)).applied.map((a) => a.summary);
    expect(left).toEqual(['set b = 2']);
    expect(world.data.has('a')).toBe(false);
    expect(text()).toContain('still applied');
    expect(r.left).toEqual([expect.stringMatching(/^step 2: set b = 2 — undo failed: cannot restore b/)]);
  });

  test('an earlier change to the same resource is not undone under a later one that stays applied', async () => {
    world.failApply.add('z');
    const cb = defineCookbook({
      title: 'two changes to k, then a failure',
      args: {},
      steps: () => [
        step('first', [setKey({ key: 'k', value: '1' })]),
        step('second', [stubbornSet({ key: 'k', value: '2' })]),
        step('fail', [setKey({ key: 'z', value: '1' })]),
      ],
    });
    const { o } = options(cb);
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(ExitCode.ROLLBACK_FAILED);
    // The first change's `before` (k absent) predates the second: restoring it under the second
    // would lose the second's undo. Both stay applied, for `cookbook rollback RUN` to take in order.
    expect(world.log.filter((l) => l === 'undo k')).toEqual(['undo k']);
    expect(world.data.get('k')).toBe('2');
    const left = journalState(readJournal(o.stateDir, r.runId)).applied.map((a) => a.summary);
    expect(left).toEqual(['set k = 1', 'set k = 2 (for good)']);
    expect(r.left).toEqual([
      expect.stringMatching(/^step 2: set k = 2 \(for good\) — undo failed/),
      expect.stringMatching(/^step 1: set k = 1 — not undone: a later change to the same thing/),
    ]);
  });

  test('an irreversible action stops the rollback with exit 93', async () => {
    world.data.set('x', 'data');
    const cb = defineCookbook({
      title: 'wipe then fail',
      args: {},
      steps: () => [step('wipe', [wipe({ key: 'x' })]), step('set', [setKey({ key: 'y', value: '1' })])],
    });
    world.failApply.add('y');
    const { o } = options(cb);
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(ExitCode.ROLLBACK_FAILED);
  });
});

describe('journal, resume and rollback of a run', () => {
  test('resume skips the steps done in the earlier attempt and applies the rest', async () => {
    world.failApply.add('c');
    const first = options(threeSteps, { onFailure: 'abort' });
    const r1 = await runCookbook(first.o);
    expect(r1.outcome).toBe('aborted');
    world.failApply.clear();
    world.log = [];
    const second = options(threeSteps, { stateDir: first.o.stateDir, resumeRunId: r1.runId });
    const r2 = await runCookbook(second.o);
    expect(r2.exitCode).toBe(0);
    expect(r2.runId).toBe(r1.runId);
    expect(second.text()).toContain('done in the earlier attempt');
    expect(world.log).toEqual(['apply c', 'apply d']);
  });

  test('rollback of a finished run restores every key in reverse order', async () => {
    world.data.set('a', 'orig');
    const { o } = options(threeSteps);
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(0);
    world.log = [];
    const out: string[] = [];
    const rb = await rollbackRun({
      runId: r.runId,
      stateDir: o.stateDir,
      loadConfig: o.loadConfig,
      yes: true,
      prompter: scriptedPrompter([]),
      out: { write: (t) => void out.push(t) },
      log: memoryLogger(),
      audit: o.audit,
    });
    expect(rb.exitCode).toBe(0);
    expect(world.log).toEqual(['undo d', 'undo c', 'undo b', 'undo a']);
    expect([...world.data]).toEqual([['a', 'orig']]);
  });

  test('the journal records arguments, the state before each action, and the outcome', async () => {
    world.data.set('a', 'was');
    const { o } = options(threeSteps, { task: 'T1', reason: 'test' });
    const r = await runCookbook(o);
    const entries = readJournal(o.stateDir, r.runId);
    expect(entries[0]).toMatchObject({ type: 'run-start', task: 'T1', reason: 'test', dryRun: false });
    expect(entries.find((e) => e.type === 'action' && e.summary === 'set a = 1')).toMatchObject({
      before: { value: 'was' },
    });
    expect(entries[entries.length - 1]).toMatchObject({ type: 'run-end', outcome: 'done', exitCode: 0 });
  });
});

describe('plans', () => {
  test('--plan refuses to act when the world drifted from the reviewed plan, and names the drift', async () => {
    const review = options(threeSteps, { planOut: join(options(threeSteps).o.stateDir, 'plan.md') });
    const reviewed = await runCookbook(review.o);
    expect(reviewed.outcome).toBe('dry-run');
    world.data.set('c', 'changed-by-someone');
    const { o, text } = options(threeSteps, { planIn: review.o.planOut!.replace(/\.md$/, '.json') });
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(ExitCode.FAILED);
    expect(world.log).toEqual([]);
    expect(text()).toContain('drifted');
    expect(text()).toContain('c: changed-by-someone → 3');
  });

  test('--plan runs when the world matches, and the Markdown lists every change', async () => {
    const file = join(options(threeSteps).o.stateDir, 'plan.md');
    await runCookbook(options(threeSteps, { planOut: file }).o);
    expect(readFileSync(file, 'utf8')).toContain('`b`: absent → 2');
    const r = await runCookbook(options(threeSteps, { planIn: file.replace(/\.md$/, '.json') }).o);
    expect(r.exitCode).toBe(0);
    expect(world.data.get('d')).toBe('4');
  });
});

describe('locks, audit and secrets', () => {
  test('a lock held by another run stops the run before its first step', async () => {
    const { o, locks } = options(threeSteps);
    await locks.acquire({ name: 'three', owner: 'alice@host [1]', runId: 'other' });
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(ExitCode.FAILED);
    expect(r.message).toContain('alice@host [1]');
    expect(world.log).toEqual([]);
  });

  test('the lock is released at the end', async () => {
    const { o, locks } = options(threeSteps);
    await runCookbook(o);
    expect(locks.holders('three')).toEqual([]);
  });

  test('the audit log gets START and END with task, reason, outcome and exit code', async () => {
    const { o, audit } = options(threeSteps, { task: 'T42', reason: 'because' });
    await runCookbook(o);
    expect(audit.lines).toHaveLength(2);
    expect(audit.lines[0]).toMatch(
      /START run=\S+ user="[^"]+" host="[^"]+" cookbook=test.cookbook .*task="T42" reason="because"/,
    );
    expect(audit.lines[1]).toMatch(/END .*outcome=done exit=0/);
  });

  test('no secret reaches the output, the journal, the audit log or an error', async () => {
    const secret = 's3cr3t-pa55word';
    registerSecret(secret);
    world.failApply.add('k');
    const cb = defineCookbook({
      title: 'secret',
      args: { token: arg.string({ description: 'a token', default: 'x' }) },
      steps: ({ args }) => [
        step(`use password=${args.token}`, [
          setKey({ key: 'k', value: `https://root:${secret}@host/ ${secret}` }),
        ]),
      ],
    });
    const { o, text, audit } = options(cb, { rawArgs: { token: secret } });
    const r = await runCookbook(o);
    const journal = readFileSync(r.journal, 'utf8');
    for (const where of [text(), journal, audit.lines.join('\n'), r.message ?? ''])
      expect(where).not.toContain(secret);
    expect(journal).toContain('***');
  });
});

describe('interrupts', () => {
  test('Ctrl-C lets the action in flight finish, offers rollback and exits 97', async () => {
    const { o, interrupts } = options(threeSteps, { onFailure: 'rollback' });
    world.onApply = (key) => {
      if (key === 'b') interrupts.emit('SIGINT');
    };
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(ExitCode.INTERRUPTED);
    expect(world.log).toEqual(['apply a', 'apply b', 'undo b', 'undo a']);
    expect(world.data.size).toBe(0);
    const end = readJournal(o.stateDir, r.runId).pop();
    expect(end).toMatchObject({ type: 'run-end', outcome: 'interrupted', exitCode: 97 });
  });

  test('Ctrl-C with rollback declined leaves the applied actions and exits 97', async () => {
    const { o, interrupts } = options(threeSteps, { yes: false, prompter: scriptedPrompter(['go', 'no']) });
    world.onApply = (key) => {
      if (key === 'a') interrupts.emit('SIGINT');
    };
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(ExitCode.INTERRUPTED);
    expect(world.data.get('a')).toBe('1');
  });
});

describe('arguments', () => {
  test('a bad argument is a usage error before anything is journaled or changed', async () => {
    const cb = defineCookbook({
      title: 'n',
      args: { n: arg.integer({ description: 'n', min: 1 }) },
      steps: () => [step('s', [setKey({ key: 'a', value: '1' })])],
    });
    const { o, audit } = options(cb, { rawArgs: { n: 'zero' } });
    await expect(runCookbook(o)).rejects.toMatchObject({ exitCode: ExitCode.USAGE });
    expect(audit.lines).toEqual([]);
    expect(world.log).toEqual([]);
  });
});
