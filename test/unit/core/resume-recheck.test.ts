import { beforeEach, describe, expect, test } from '@jest/globals';
import { check, defineCookbook, step } from '../../../src/core/cookbook.js';
import { CheckError } from '../../../src/core/errors.js';
import { runCookbook } from '../../../src/core/runner.js';
import { options, resetWorld, setKey, world } from './fakes.js';

/**
 * remove (m: gone), check it is gone, add it back (m: back), then a step that fails once:
 * a remove-then-add as a reimage does it, interrupted before its end.
 */
const removeThenAdd = defineCookbook({
  title: 'remove, check, add back',
  args: {},
  steps: () => [
    step('remove m', [setKey({ key: 'm', value: 'gone' })]),
    check('m is gone', async () => {
      if (world.data.get('m') !== 'gone') throw new CheckError(`m is ${world.data.get('m')}`);
    }),
    // Built from what it finds: a resume would build another action here (m is no longer "gone").
    step('add m back', () => [
      setKey({ key: 'm', value: world.data.get('m') === 'gone' ? 'back' : 'again' }),
    ]),
    step('last', [setKey({ key: 'z', value: '1' })]),
  ],
});

beforeEach(() => {
  resetWorld();
  world.data.set('m', 'here');
});

describe('a resume observes again what the journal records as done', () => {
  test('a check the later steps made false, and a step that would build other actions now, are not drift', async () => {
    world.failApply.add('z');
    const { o } = options(removeThenAdd, { onFailure: 'abort' });
    const first = await runCookbook(o);
    expect(first.outcome).toBe('aborted');
    expect(world.data.get('m')).toBe('back');
    world.failApply = new Set();
    const { o: again, text } = options(removeThenAdd);
    const r = await runCookbook({ ...again, stateDir: o.stateDir, resumeRunId: first.runId });
    expect(text()).not.toContain('drifted');
    expect(r.exitCode).toBe(0);
    expect(world.data.get('m')).toBe('back');
  });

  test('a change by hand of what the last done step set is still drift: refused, nothing changed', async () => {
    world.failApply.add('z');
    const { o } = options(removeThenAdd, { onFailure: 'abort' });
    const first = await runCookbook(o);
    world.failApply = new Set();
    world.data.set('m', 'changed by hand');
    world.log = [];
    const { o: again, text } = options(removeThenAdd);
    const r = await runCookbook({ ...again, stateDir: o.stateDir, resumeRunId: first.runId });
    expect(r.outcome).toBe('refused');
    expect(text()).toContain(
      'step 3 "add m back": journaled as done, but now set m = back would change m: changed by hand → back',
    );
    expect(world.log).toEqual([]);
  });
});
