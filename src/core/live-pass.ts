import { formatDuration } from '../util/duration.js';
import { waitUntil } from '../util/wait.js';
import type { AnyAction, Change } from './action.js';
import { isReversible } from './action.js';
import type { CheckStep, Step, ActionStep } from './cookbook.js';
import { CheckError, ExitCode, InterruptedError, formatError } from './errors.js';
import type { FailureHandler } from './failure-policy.js';
import { isInterruption } from './failure-policy.js';
import type { Interrupts } from './interrupts.js';
import type { StepStatus } from './journal.js';
import { showChange } from './plan-pass.js';
import { NoAnswerError, type Prompter } from './prompt.js';
import type { RunEnv } from './run-env.js';
import { type RunSession, Stop } from './session.js';
import { isTransient } from './transient.js';
import { verifyApplied } from './verify.js';

export interface LivePassOptions {
  steps: Step[];
  env: RunEnv;
  session: RunSession;
  interrupts: Interrupts;
  prompter: Prompter;
  interactive: boolean;
  failures: FailureHandler;
  /** Steps an earlier attempt finished (re-checked before this pass). */
  doneSteps?: ReadonlySet<number>;
}

/**
 * The live run, step by step: observe, show the plan, confirm, apply and verify each
 * action with the journal written ahead, and hand every failure to the failure handler.
 */
export class LivePass {
  constructor(private readonly o: LivePassOptions) {}

  async run(): Promise<void> {
    const { steps, session, interrupts, doneSteps } = this.o;
    for (const [i, s] of steps.entries()) {
      interrupts.check();
      session.say(`[${i + 1}/${steps.length}] ${s.title}`);
      if (doneSteps?.has(i)) {
        session.say('    = done in the earlier attempt of this run; observed again: still holds');
        continue;
      }
      const status = s.kind === 'check' ? await this.check(i, s) : await this.actions(i, s);
      this.stepEntry(i, s.title, status);
    }
  }

  private stepEntry(step: number, title: string, status: StepStatus): void {
    this.o.session.journal.write({ type: 'step', time: this.o.session.now(), step, title, status });
  }

  private async check(i: number, s: CheckStep): Promise<StepStatus> {
    const { env, session, interrupts } = this.o;
    for (;;) {
      try {
        env.useSignal(interrupts.waits);
        const msg = await waitUntil({
          what: s.title,
          probe: () => s.run(),
          timeoutMs: s.timeoutMs,
          intervalMs: s.intervalMs,
          maxIntervalMs: s.intervalMs,
          retryOn: isTransient,
          signal: interrupts.waits,
          timeoutError: (m, last) => (last instanceof Error ? last : new CheckError(m)),
        });
        const text = msg || 'holds';
        session.say(text.includes('\n') ? `    ✓\n${text.replace(/^/gm, '      ')}` : `    ✓ ${text}`);
        return 'done';
      } catch (e) {
        const d = await this.o.failures.decide(`check "${s.title}" failed`, e);
        if (d === 'retry') continue;
        if (d === 'skip') return 'skipped';
        throw d;
      }
    }
  }

  private async actions(i: number, s: ActionStep): Promise<StepStatus> {
    const { env, session, interrupts, prompter, interactive } = this.o;
    for (;;) {
      try {
        env.useSignal(interrupts.waits);
        const actions = await s.build();
        const observed = [];
        for (const a of actions) {
          const before = await a.definition.observe(a.params, env);
          observed.push({ a, before, changes: a.definition.plan(a.params, before) });
        }
        const todo = observed.map((x, index) => ({ ...x, index })).filter((x) => x.changes.length);
        if (!todo.length) {
          session.say('    = already done: nothing to change');
          return 'already-done';
        }
        const irreversible = todo.filter((x) => !isReversible(x.a));
        for (const x of todo) {
          session.say(`    · ${x.a.summary}${isReversible(x.a) ? '' : '  [IRREVERSIBLE]'}`);
          for (const c of x.changes) session.say(`        ${showChange(c)}`);
        }
        if (interactive) {
          const msg = irreversible.length
            ? `Step ${i + 1} includes ${irreversible.length} action(s) that CANNOT BE UNDONE. Apply it?`
            : `Apply step ${i + 1}?`;
          const answer = await prompter.confirmStep(msg, irreversible.length > 0, interrupts.waits);
          if (answer === 'skip') {
            session.say('    ↷ skipped by the operator');
            return 'skipped';
          }
          if (answer === 'abort') {
            throw session.applied.length
              ? new Stop(
                  'aborted',
                  ExitCode.FAILED,
                  `aborted by the operator at step ${i + 1} ("${s.title}") (\`cookbook resume ${session.runId}\` or \`cookbook rollback ${session.runId}\` later)`,
                )
              : new Stop(
                  'aborted',
                  ExitCode.FAILED,
                  `aborted by the operator at step ${i + 1} ("${s.title}"); nothing was changed`,
                );
          }
        }
        for (const x of todo) await this.applyOne(i, x.index, x.a, x.before, x.changes);
        return 'done';
      } catch (e) {
        if (e instanceof Stop) throw e;
        if (e instanceof NoAnswerError) throw await this.o.failures.noAnswer(e);
        const d = await this.o.failures.decide(`step ${i + 1} "${s.title}" failed`, e);
        if (d === 'retry') continue;
        if (d === 'skip') return 'skipped';
        throw d;
      }
    }
  }

  /** Applies and verifies one action, journaled before (with `before`) and after. */
  private async applyOne(
    i: number,
    index: number,
    a: AnyAction,
    before: unknown,
    changes: Change[],
  ): Promise<void> {
    const { env, session, interrupts } = this.o;
    interrupts.check();
    const d = a.definition;
    const base = {
      step: i,
      index,
      kind: d.kind,
      params: a.params,
      summary: a.summary,
      before,
      changes,
      ...(a.id ? { id: a.id } : {}),
      ...(a.undoBefore ? { undoBefore: a.undoBefore } : {}),
    };
    const entry = (status: 'applying' | 'applied' | 'verified' | 'failed', error?: string) =>
      session.journal.write({
        ...base,
        type: 'action',
        time: session.now(),
        status,
        ...(error ? { error } : {}),
      });
    const started = Date.now();
    // The action in flight finishes on the first stop signal; only a second one abandons it.
    env.useSignal(interrupts.inFlight);
    entry('applying');
    session.remember({ step: i, index, action: a, before, last: 'applying' });
    try {
      await interrupts.abandonable(d.apply(a.params, before, env));
    } catch (e) {
      // A failed apply may have changed something: it stays remembered for rollback.
      entry('failed', `apply: ${formatError(e)}`);
      throw e;
    }
    entry('applied');
    try {
      await interrupts.abandonable(verifyApplied(a, before, env));
    } catch (e) {
      entry('failed', formatError(e));
      throw e instanceof InterruptedError || isInterruption(e, interrupts)
        ? e
        : new CheckError(`verification of "${a.summary}" failed: ${formatError(e)}`);
    } finally {
      env.useSignal(interrupts.waits);
    }
    entry('verified');
    session.say(`    ✓ ${a.summary} (${formatDuration(Date.now() - started)})`);
  }
}
