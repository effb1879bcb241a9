import { beforeEach, describe, expect, test } from '@jest/globals';
import { defineCookbook, step } from '../../../src/core/cookbook.js';
import { ExitCode } from '../../../src/core/errors.js';
import { readJournal } from '../../../src/core/journal.js';
import { scriptedPrompter } from '../../../src/core/prompt.js';
import { runCookbook } from '../../../src/core/runner.js';
import { options, resetWorld, setKey, wipe, world } from './fakes.js';

/** move clients away (a), the reimage (wipe x, the point of no return), then b and c. */
const reimageLike = defineCookbook({
  title: 'a point of no return',
  args: {},
  steps: () => [
    step('move away', [setKey({ key: 'a', value: 'away' })]),
    step('reimage', [wipe({ key: 'x' })], { pointOfNoReturn: true }),
    step('re-add', [setKey({ key: 'b', value: '1' })]),
    step('move back', [setKey({ key: 'a', value: 'home' })]),
  ],
});

beforeEach(() => {
  resetWorld();
  world.data.set('a', 'home');
  world.data.set('x', 'data');
});

describe('a step marked as the point of no return', () => {
  test('a failure before it rolls back as usual', async () => {
    world.failApply.add('a');
    const r = await runCookbook(options(reimageLike).o);
    expect(r.outcome).toBe('rolled-back');
    expect(world.data.get('x')).toBe('data');
    expect(world.log).toEqual(['apply a', 'undo a']);
  });

  test('a failure after it stops without undoing anything and says what remains and how to finish', async () => {
    world.failApply.add('b');
    const { o, text } = options(reimageLike);
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(ExitCode.FAILED);
    expect(r.outcome).toBe('failed');
    expect(world.log).toEqual(['apply a', 'apply wipe x', 'apply b']);
    expect(world.data.get('a')).toBe('away');
    expect(r.message).toContain('stopped after the point of no return, step 2 "reimage"');
    expect(r.message).toContain('2 step(s) remain: step 3 "re-add"; step 4 "move back"');
    expect(r.message).toContain(`cookbook resume ${r.runId}`);
    expect(text()).toContain('what remains to be done');
    const undos = readJournal(o.stateDir, r.runId).filter(
      (e) => e.type === 'action' && e.status === 'undone',
    );
    expect(undos).toEqual([]);
  });

  test('an interruption after it does not roll back either (exit 97)', async () => {
    const { o, interrupts } = options(reimageLike);
    world.onApply = (key) => {
      if (key === 'b') interrupts.emit('SIGTERM');
    };
    const r = await runCookbook(o);
    expect(r.exitCode).toBe(ExitCode.INTERRUPTED);
    expect(world.log.filter((l) => l.startsWith('undo'))).toEqual([]);
    expect(r.message).toContain('point of no return');
  });

  test('an operator who answers rollback after it is refused the rollback: the run stops', async () => {
    world.failApply.add('b');
    const prompter = scriptedPrompter(['go', 'go', 'go', 'rollback']);
    const r = await runCookbook(options(reimageLike, { yes: false, prompter }).o);
    expect(r.outcome).toBe('failed');
    expect(world.log.filter((l) => l.startsWith('undo'))).toEqual([]);
  });

  test('a resume finishes the run; a failure of the resumed attempt does not roll back either', async () => {
    world.failApply.add('b');
    const { o } = options(reimageLike);
    const first = await runCookbook(o);
    world.failApply = new Set(['a']); // the move back fails this time
    const second = await runCookbook({
      ...options(reimageLike).o,
      stateDir: o.stateDir,
      resumeRunId: first.runId,
    });
    expect(second.outcome).toBe('failed');
    expect(second.message).toContain('point of no return');
    expect(world.log.filter((l) => l.startsWith('undo'))).toEqual([]);
    world.failApply = new Set();
    const third = await runCookbook({
      ...options(reimageLike).o,
      stateDir: o.stateDir,
      resumeRunId: first.runId,
    });
    expect(third.exitCode).toBe(0);
    expect(world.data.get('a')).toBe('home');
    expect(world.data.get('b')).toBe('1');
  });
});
