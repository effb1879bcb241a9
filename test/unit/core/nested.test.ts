import { beforeEach, describe, expect, test } from '@jest/globals';
import { arg, check, defineCookbook, step, type Cookbook } from '../../../src/core/cookbook.js';
import { CheckError, ExitCode, GalleyError } from '../../../src/core/errors.js';
import { readJournal, journalState, type JournalEntry } from '../../../src/core/journal.js';
import { formatJournal } from '../../../src/core/journal-view.js';
import { scriptedPrompter } from '../../../src/core/prompt.js';
import { rollbackRun, runCookbook } from '../../../src/core/runner.js';
import { memoryLogger } from '../../../src/core/log.js';
import { options, resetWorld, setKey, world } from './fakes.js';

/** A child that sets KEY.1 and KEY.2 (two steps), with its own lock and safe state. */
const child = defineCookbook({
  title: 'set two numbered keys',
  args: {
    key: arg.string({ description: 'the key prefix', positional: true }),
    value: arg.string({ description: 'the value', default: 'v' }),
  },
  lock: (args) => ({ name: `child:${args.key}` }),
  safeState: (ctx) => ({
    title: `${ctx.args.key}.1 is not "bad"`,
    check: async () => {
      if (world.data.get(`${ctx.args.key}.1`) === 'bad') throw new CheckError(`${ctx.args.key}.1 is bad`);
    },
    restore: () => [`set ${ctx.args.key}.1 back`],
  }),
  steps: (ctx) => [
    step(`set ${ctx.args.key}.1`, [setKey({ key: `${ctx.args.key}.1`, value: ctx.args.value })]),
    step(`set ${ctx.args.key}.2`, [setKey({ key: `${ctx.args.key}.2`, value: ctx.args.value })]),
  ],
});

/** A child that runs `child` itself (a grandchild of the parent). */
const middle = defineCookbook({
  title: 'a child that runs a child',
  args: { key: arg.string({ description: 'the key prefix', positional: true }) },
  lock: () => ({ name: 'parent' }),
  steps: (ctx) => [
    step(`set ${ctx.args.key}.m`, [setKey({ key: `${ctx.args.key}.m`, value: 'm' })]),
    ctx.runCookbook('test.child', { key: `${ctx.args.key}.inner` }),
  ],
});

/** The parent: a, then the child for b, then the middle for c, then d. */
const parent = defineCookbook({
  title: 'a parent of children',
  args: {},
  lock: () => ({ name: 'parent' }),
  steps: (ctx) => [
    step('set a', [setKey({ key: 'a', value: '1' })]),
    ctx.runCookbook('test.child', { key: 'b' }),
    ctx.runCookbook('test.middle', { key: 'c' }),
    step('set d', [setKey({ key: 'd', value: '4' })]),
  ],
});

const selfish: Cookbook = defineCookbook({
  title: 'runs itself',
  args: {},
  steps: (ctx) => [ctx.runCookbook('test.selfish')],
});

const catalog: Record<string, Cookbook> = {
  'test.child': child as unknown as Cookbook,
  'test.middle': middle as unknown as Cookbook,
  'test.parent': parent as unknown as Cookbook,
  'test.selfish': selfish,
};
const resolveCookbook = async (name: string) => {
  const c = catalog[name];
  // As the CLI's catalog does (NoSuchCookbookError): exit 98.
  if (!c) throw new GalleyError(`no cookbook named "${name}"`, { exitCode: ExitCode.NO_SUCH_COOKBOOK });
  return c;
};

const run = (cb: Cookbook, over: Parameters<typeof options>[1] = {}) =>
  options(cb, { name: 'test.parent', resolveCookbook, ...over });

/** The keys the parent's run sets, in order. */
const ORDER = ['a', 'b.1', 'b.2', 'c.m', 'c.inner.1', 'c.inner.2', 'd'];

beforeEach(() => {
  resetWorld();
});

describe("a child's dry-run is part of the parent's plan", () => {
  test('every step of every child is planned, under the child it belongs to, and nothing is applied', async () => {
    const { o, text } = run(parent as unknown as Cookbook, { dryRun: true });
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(0);
    expect(world.log).toEqual([]);
    expect(world.data.size).toBe(0);
    expect(r.plan?.steps.map((s) => s.title)).toEqual(ORDER.map((k) => `set ${k}`));
    expect(r.plan?.steps.map((s) => s.within ?? [])).toEqual([
      [],
      ['test.child b'],
      ['test.child b'],
      ['test.middle c'],
      ['test.middle c', 'test.child c.inner'],
      ['test.middle c', 'test.child c.inner'],
      [],
    ]);
    expect(text()).toContain('[5/7] test.middle c › test.child c.inner › set c.inner.1');
    expect(text()).toContain('c.inner.2: absent → v');
  });

  test('a change in a child changes the fingerprint: a reviewed plan drifts when the child would do otherwise', async () => {
    const first = await runCookbook(run(parent as unknown as Cookbook, { dryRun: true }).o);
    world.data.set('b.2', 'v');
    const second = await runCookbook(run(parent as unknown as Cookbook, { dryRun: true }).o);
    expect(first.plan?.fingerprint).not.toEqual(second.plan?.fingerprint);
  });
});

describe("a child's confirmation is part of the parent's", () => {
  test("each of the child's steps is asked with the parent's, in order", async () => {
    const prompter = scriptedPrompter(ORDER.map(() => 'go'));
    const { o } = run(parent as unknown as Cookbook, { yes: false, prompter });
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(0);
    expect(prompter.asked).toHaveLength(ORDER.length);
    expect(world.log).toEqual(ORDER.map((k) => `apply ${k}`));
  });

  test("an abort at a child's step stops the parent: no later step of the child or the parent is applied", async () => {
    const prompter = scriptedPrompter(['go', 'go', 'abort']);
    const { o } = run(parent as unknown as Cookbook, { yes: false, prompter });
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(ExitCode.FAILED);
    expect(r.outcome).toBe('aborted');
    expect(world.log).toEqual(['apply a', 'apply b.1']);
  });

  test('--yes takes the children too, without asking', async () => {
    const prompter = scriptedPrompter([]);
    const { o } = run(parent as unknown as Cookbook, { yes: true, prompter });
    expect((await runCookbook(o)).exitCode).toBe(0);
    expect(prompter.asked).toEqual([]);
    expect([...world.data.keys()]).toEqual(ORDER);
  });
});

describe("a child's journal entries are recorded under the parent run", () => {
  test('one journal: the child runs start and end around their steps, each entry says which child it belongs to', async () => {
    const { o } = run(parent as unknown as Cookbook);
    const r = await runCookbook(o);
    const entries = readJournal(o.stateDir, r.runId);
    const children = entries.filter((e): e is Extract<JournalEntry, { type: 'child' }> => e.type === 'child');
    expect(children.map((c) => `${c.event} ${c.label} ${c.depth} ${c.step}`)).toEqual([
      'start test.child b 1 1',
      'end test.child b 1 2',
      'start test.middle c 1 3',
      'start test.child c.inner 2 4',
      'end test.child c.inner 2 5',
      'end test.middle c 1 5',
    ]);
    const actions = entries.filter(
      (e): e is Extract<JournalEntry, { type: 'action' }> => e.type === 'action' && e.status === 'verified',
    );
    expect(actions.map((a) => a.within ?? [])).toEqual([
      [],
      ['test.child b'],
      ['test.child b'],
      ['test.middle c'],
      ['test.middle c', 'test.child c.inner'],
      ['test.middle c', 'test.child c.inner'],
      [],
    ]);
    expect(entries.filter((e) => e.type === 'run-start')).toHaveLength(1);
  });

  test('`cookbook runs RUN` shows the children nested under the parent', async () => {
    const { o } = run(parent as unknown as Cookbook);
    const r = await runCookbook(o);
    const text = formatJournal(readJournal(o.stateDir, r.runId), r.runId)
      .map((l) => l.replace(/^\S+ /, ''))
      .join('\n');
    expect(text).toContain('  ▶ test.child b: set two numbered keys (child run, from step 2)');
    expect(text).toContain('      verified      set b.1 = v');
    expect(text).toContain('    step 2 "set b.1": done');
    expect(text).toContain('    ▶ test.child c.inner: set two numbered keys (child run, from step 5)');
    expect(text).toContain('        verified      set c.inner.1 = v');
    expect(text).toContain('      step 5 "set c.inner.1": done');
    expect(text).toContain('    verified      set a = 1');
    expect(text).toContain('  step 1 "set a": done');
  });

  test("a child's facts and reports are kept apart from the parent's", async () => {
    const factful = defineCookbook({
      title: 'facts',
      args: { key: arg.string({ description: 'k', positional: true }) },
      steps: (ctx) => [
        check('remember', async () => {
          ctx.report('seen', await ctx.fact('n', async () => ctx.args.key));
        }),
      ],
    });
    const top = defineCookbook({
      title: 'top',
      args: {},
      steps: (ctx) => [
        check('remember', async () => {
          ctx.report('seen', await ctx.fact('n', async () => 'top'));
        }),
        ctx.runCookbook('test.factful', { key: 'one' }),
        ctx.runCookbook('test.factful', { key: 'two' }),
      ],
    });
    catalog['test.factful'] = factful as unknown as Cookbook;
    const r = await runCookbook(run(top as unknown as Cookbook).o);
    expect(r.report).toEqual({ seen: 'top', 'test.factful#1/seen': 'one', 'test.factful#2/seen': 'two' });
  });
});

describe('a rollback of the parent undoes the children in reverse', () => {
  test('a failure after the children undoes every action, newest first: the children in reverse', async () => {
    world.failApply.add('d');
    const { o } = run(parent as unknown as Cookbook);
    const r = await runCookbook(o);
    expect(r.outcome).toBe('rolled-back');
    expect(world.log).toEqual([
      ...ORDER.map((k) => `apply ${k}`),
      ...[...ORDER].reverse().map((k) => `undo ${k}`),
    ]);
    expect(world.data.size).toBe(0);
  });

  test("a failure inside a grandchild undoes it, then the middle child's, then the parent's", async () => {
    world.failApply.add('c.inner.2');
    const { o } = run(parent as unknown as Cookbook);
    const r = await runCookbook(o);
    expect(r.outcome).toBe('rolled-back');
    const undone = world.log.filter((l) => l.startsWith('undo '));
    expect(undone).toEqual([
      'undo c.inner.2',
      'undo c.inner.1',
      'undo c.m',
      'undo b.2',
      'undo b.1',
      'undo a',
    ]);
  });

  test('`cookbook rollback RUN` later undoes the children in reverse too, from the journal alone', async () => {
    world.failApply.add('d');
    const { o } = run(parent as unknown as Cookbook, { onFailure: 'abort' });
    const r = await runCookbook(o);
    expect(r.outcome).toBe('aborted');
    world.log = [];
    const rb = await rollbackRun({
      runId: r.runId,
      stateDir: o.stateDir,
      loadConfig: o.loadConfig,
      yes: true,
      prompter: scriptedPrompter([]),
      out: { write: () => undefined },
      log: memoryLogger(),
      audit: o.audit,
    });
    expect(rb.exitCode).toBe(0);
    expect(world.log).toEqual([...ORDER].reverse().map((k) => `undo ${k}`));
    const undoEntries = readJournal(o.stateDir, r.runId).filter(
      (e): e is Extract<JournalEntry, { type: 'action' }> => e.type === 'action' && e.status === 'undone',
    );
    expect(undoEntries.find((e) => e.summary === 'set c.inner.1 = v')?.within).toEqual([
      'test.middle c',
      'test.child c.inner',
    ]);
  });

  test('a resume after a failure inside a child finishes the child and the parent', async () => {
    world.failApply.add('b.2');
    const { o } = run(parent as unknown as Cookbook, { onFailure: 'abort' });
    const first = await runCookbook(o);
    expect(first.outcome).toBe('aborted');
    world.failApply.delete('b.2');
    world.log = [];
    const again = await runCookbook({
      ...run(parent as unknown as Cookbook).o,
      stateDir: o.stateDir,
      resumeRunId: first.runId,
    });
    expect(again.exitCode).toBe(0);
    expect(world.log).toEqual(['apply b.2', 'apply c.m', 'apply c.inner.1', 'apply c.inner.2', 'apply d']);
    expect(journalState(readJournal(o.stateDir, first.runId)).doneSteps.size).toBe(ORDER.length);
  });

  test("a child's safe state is checked with the parent's at the end of a failed run", async () => {
    world.data.set('b.1', 'bad');
    world.failApply.add('a');
    const bad = defineCookbook({
      title: 'child with an unsafe state',
      args: {},
      steps: (ctx) => [
        ctx.runCookbook('test.child', { key: 'b', value: 'bad' }),
        step('set a', [setKey({ key: 'a', value: '1' })]),
      ],
    });
    const { o, text } = run(bad as unknown as Cookbook, { onFailure: 'abort' });
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(ExitCode.ROLLBACK_FAILED);
    expect(r.outcome).toBe('unsafe');
    expect(text()).toContain('UNSAFE STATE: "b.1 is not "bad""');
    expect(text()).toContain('set b.1 back');
  });
});

describe('locks, bad children', () => {
  test("a child's lock is taken with the parent's before the first step; one of the same name is held once", async () => {
    const { o, locks } = run(parent as unknown as Cookbook);
    const seen: string[][] = [];
    world.onApply = () => {
      seen.push(['parent', 'child:b', 'child:c.inner'].filter((n) => locks.holders(n).length === 1));
    };
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(0);
    expect(seen[0]).toEqual(['parent', 'child:b', 'child:c.inner']);
    expect(locks.holders('parent')).toEqual([]);
    expect(locks.holders('child:b')).toEqual([]);
  });

  test("a child's lock held by another run refuses the parent before anything is changed", async () => {
    const { o, locks } = run(parent as unknown as Cookbook);
    await locks.acquire({ name: 'child:b', owner: 'someone else', runId: 'x' });
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(ExitCode.FAILED);
    expect(r.message).toContain('child:b');
    expect(world.log).toEqual([]);
    expect(locks.holders('parent')).toEqual([]);
  });

  test('a bad argument of a child is refused before anything runs, naming the child', async () => {
    const bad = defineCookbook({
      title: 'bad child args',
      args: {},
      steps: (ctx) => [step('set a', [setKey({ key: 'a', value: '1' })]), ctx.runCookbook('test.child', {})],
    });
    const { o, text } = run(bad as unknown as Cookbook);
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(ExitCode.USAGE);
    expect(r.message).toContain('child cookbook test.child: missing argument KEY');
    expect(world.log).toEqual([]);
    expect(text()).not.toContain('[1/');
  });

  test('an unknown child, or a cookbook that runs itself, is refused before anything runs', async () => {
    const unknown = defineCookbook({
      title: 'unknown child',
      args: {},
      steps: (ctx) => [step('set a', [setKey({ key: 'a', value: '1' })]), ctx.runCookbook('test.nope')],
    });
    const r1 = await runCookbook(run(unknown as unknown as Cookbook).o);
    expect(r1.outcome).toBe('refused');
    expect(r1.exitCode).toBe(ExitCode.NO_SUCH_COOKBOOK);
    expect(r1.message).toContain('no cookbook named "test.nope"');
    const r2 = await runCookbook(run(selfish, { name: 'test.selfish' }).o);
    expect(r2.exitCode).toBe(ExitCode.USAGE);
    expect(r2.message).toContain('a cookbook cannot run itself');
    expect(world.log).toEqual([]);
  });
});
