import { WaitAborted } from '../util/wait.js';
import { ConfigError, ExitCode, InterruptedError, UsageError, formatError } from './errors.js';
import type { Interrupts } from './interrupts.js';
import { NoAnswerError, PromptInterrupted, type Prompter } from './prompt.js';
import { type RunSession, Stop } from './session.js';

export type FailurePolicy = 'rollback' | 'abort';

/** Whether an error means the operator stopped the run (a signal, or Ctrl-C in a question). */
export function isInterruption(e: unknown, interrupts: Interrupts): boolean {
  return (
    e instanceof InterruptedError ||
    e instanceof PromptInterrupted ||
    e instanceof WaitAborted ||
    interrupts.received !== undefined
  );
}

export interface FailureContext {
  session: RunSession;
  interrupts: Interrupts;
  prompter: Prompter;
  interactive: boolean;
  policy: FailurePolicy;
  /** Undoes what the run applied; the stop to end with. */
  rollback(why: string): Promise<Stop>;
}

const firstLine = (e: unknown) => formatError(e).split('\n')[0]!;

/**
 * What happens after a failure: a signal stops the run (with a rollback offered or taken by
 * the policy); a config or usage error before any change refuses at once; otherwise the
 * operator is asked (retry / rollback / skip / abort) or the policy decides. With nothing
 * applied the run ends "refused: …; nothing was changed".
 */
export class FailureHandler {
  constructor(private readonly c: FailureContext) {}

  async decide(what: string, e: unknown): Promise<'retry' | 'skip' | Stop> {
    const { session, interactive, policy, prompter } = this.c;
    if (isInterruption(e, this.c.interrupts)) return this.interrupted();
    if (e instanceof NoAnswerError) return this.noAnswer(e);
    const nothingApplied = session.applied.length === 0;
    const why = `${what}: ${formatError(e)}`;
    if ((e instanceof ConfigError || e instanceof UsageError) && nothingApplied)
      return this.refused(why, e.exitCode);
    let answer: string;
    if (interactive) {
      session.fail(`  ✗ ${why}`);
      try {
        answer = await prompter.onFailure(`${what}. What now?`, !nothingApplied, this.c.interrupts.waits);
      } catch (err) {
        if (isInterruption(err, this.c.interrupts)) return this.interrupted();
        if (err instanceof NoAnswerError) return this.noAnswer(err);
        throw err;
      }
    } else answer = policy;
    if (answer === 'retry') return 'retry';
    if (answer === 'skip') return 'skip';
    if (nothingApplied) return this.refused(why, ExitCode.FAILED, interactive);
    if (answer === 'rollback') return this.c.rollback(why);
    return new Stop(
      'aborted',
      ExitCode.FAILED,
      `${why} (aborted, leaving what was applied; \`cookbook resume ${session.runId}\` or \`cookbook rollback ${session.runId}\` later)`,
    );
  }

  refused(why: string, exitCode: number = ExitCode.FAILED, shown = false): Stop {
    const stop = new Stop('refused', exitCode, `refused: ${why}; nothing was changed`);
    if (shown) stop.shown = 'refused; nothing was changed';
    return stop;
  }

  /** No terminal and no --yes: end at once; what was applied is handled by the policy. */
  async noAnswer(e: NoAnswerError): Promise<Stop> {
    const { session, policy } = this.c;
    if (!session.applied.length)
      return new Stop('aborted', ExitCode.FAILED, `${firstLine(e)}; nothing was changed`);
    if (policy === 'rollback') {
      const r = await this.c.rollback(firstLine(e));
      return r.outcome === 'rolled-back'
        ? new Stop('aborted', ExitCode.FAILED, `${firstLine(e)}; what the run applied was rolled back`)
        : r;
    }
    return new Stop(
      'aborted',
      ExitCode.FAILED,
      `${firstLine(e)} (\`cookbook resume ${session.runId}\` or \`cookbook rollback ${session.runId}\` later)`,
    );
  }

  /** A stop signal: roll back (asked on a terminal for Ctrl-C; by the policy otherwise), exit 97. */
  async interrupted(): Promise<Stop> {
    const { session, interactive, policy, prompter, interrupts } = this.c;
    const signal = interrupts.received ?? 'SIGINT';
    session.say(`■ interrupted (${signal})`);
    let doRollback = false;
    if (session.applied.length) {
      if (interactive && signal === 'SIGINT') {
        try {
          doRollback = await prompter.yesNo(
            'Interrupted. Roll back what this run applied?',
            interrupts.inFlight,
          );
        } catch (err) {
          if (!(err instanceof NoAnswerError || isInterruption(err, interrupts))) throw err;
          doRollback = policy === 'rollback';
        }
      } else doRollback = policy === 'rollback';
    }
    if (doRollback) {
      const r = await this.c.rollback('interrupted');
      return r.outcome === 'rollback-failed'
        ? r
        : new Stop('interrupted', ExitCode.INTERRUPTED, `interrupted (${signal}); rolled back`);
    }
    const left = session.applied.length
      ? ` (\`cookbook resume ${session.runId}\` or \`cookbook rollback ${session.runId}\` later)`
      : '; nothing was changed';
    return new Stop('interrupted', ExitCode.INTERRUPTED, `interrupted (${signal})${left}`);
  }
}
