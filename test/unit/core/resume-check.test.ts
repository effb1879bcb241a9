import { describe, expect, test } from '@jest/globals';
import { EventEmitter } from 'node:events';
import { defineAction } from '../../../src/core/action.js';
import { check, step } from '../../../src/core/cookbook.js';
import { CheckError } from '../../../src/core/errors.js';
import { Interrupts } from '../../../src/core/interrupts.js';
import { memoryLogger } from '../../../src/core/log.js';
import { recheckDoneSteps } from '../../../src/core/resume-check.js';
import { runEnv } from '../../../src/core/run-env.js';

/** Which checks a resume asks again: those after the last change the journal records. */
describe('resume re-checks', () => {
  const env = runEnv(
    () => {
      throw new Error('no config');
    },
    memoryLogger(),
    false,
  );
  const interrupts = new Interrupts(new EventEmitter() as never, () => undefined);
  /** An action that holds: observing it again finds nothing to change. */
  const makeReadOnly = defineAction<{ dc: string }, string>({
    kind: 'test.resume-check.read-only',
    describe: (p) => `${p.dc}: read-only`,
    observe: async () => 'read-only',
    plan: (_p, now) => (now === 'read-only' ? [] : [{ subject: 'mode', from: now, to: 'read-only' }]),
    apply: async () => undefined,
  });
  const appliedInStep1 = [{ step: 1, action: makeReadOnly({ dc: 'codfw' }) }];
  const steps = [
    check('codfw is the master', async () => {
      throw new CheckError('codfw is read-only');
    }),
    step('Make codfw read-only', []),
    check('eqiad holds everything', async () => 'ok'),
  ];

  test('a check that fails now and was passed before any change is drift', async () => {
    const drift = await recheckDoneSteps(steps, new Set([0]), env, interrupts, []);
    expect(drift).toEqual([
      'step 1 "codfw is the master" (a check, passed before): does not hold any more: codfw is the master: still not as expected after 0ms (last error: codfw is read-only)',
    ]);
  });

  test('a check before a step that applied something was its precondition: not asked again', async () => {
    expect(await recheckDoneSteps(steps, new Set([0, 1, 2]), env, interrupts, appliedInStep1)).toEqual([]);
  });

  test('a check after the last change is still asked', async () => {
    const failingLater = [
      ...steps.slice(0, 2),
      check('eqiad holds everything', async () => {
        throw new CheckError('eqiad is behind');
      }),
    ];
    expect(await recheckDoneSteps(failingLater, new Set([0, 1, 2]), env, interrupts, appliedInStep1)).toEqual(
      [
        'step 3 "eqiad holds everything" (a check, passed before): does not hold any more: eqiad holds everything: still not as expected after 0ms (last error: eqiad is behind)',
      ],
    );
  });
});
