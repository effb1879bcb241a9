import type { GalleyConfig } from '../config/schema.js';
import type { AuditLog } from './audit.js';
import { ExitCode, GalleyError, formatError } from './errors.js';
import { type InterruptSource, Interrupts } from './interrupts.js';
import { journalState, readJournalFile, summarize } from './journal.js';
import type { Logger, Output } from './log.js';
import type { Prompter } from './prompt.js';
import type { RunResult } from './runner.js';
import { runEnv } from './run-env.js';
import { RunSession } from './session.js';
import { undoApplied } from './undo.js';

export interface RollbackOptions {
  runId: string;
  stateDir: string;
  loadConfig(): GalleyConfig;
  yes: boolean;
  prompter: Prompter;
  out: Output;
  errOut?: Output;
  log: Logger;
  audit: AuditLog;
  interrupts?: InterruptSource;
}

/**
 * `cookbook rollback RUN`: undoes, newest first, every action a finished, failed or
 * interrupted run applied and did not undo, verifying each, going on past an undo that
 * fails. Action kinds come from `src/actions` (registered by kind), so a run of a cookbook
 * that was renamed or removed can still be rolled back.
 */
export async function rollbackRun(o: RollbackOptions): Promise<RunResult> {
  const { entries, warnings } = readJournalFile(o.stateDir, o.runId);
  const start = summarize(entries);
  if (!start) throw new GalleyError(`run ${o.runId} has no start record: its journal is not usable`);
  const session = new RunSession({
    stateDir: o.stateDir,
    audit: o.audit,
    out: o.out,
    errOut: o.errOut,
    name: `rollback ${start.cookbook}`,
    rawArgs: {},
    dryRun: false,
    runId: o.runId,
    task: start.task,
    reason: start.reason,
  });
  for (const w of warnings) session.say(`WARNING: ${w}`);
  session.restoreApplied(journalState(entries).applied);
  const env = runEnv(o.loadConfig, o.log, false);
  const interrupts = new Interrupts(o.interrupts ?? process, (l) => session.say(l), {
    first: () => '^C: the rollback goes on (press Ctrl-C again to abandon it: what is left stays applied)',
    second: () => '^C again: abandoning the rollback',
  }).listen();
  env.useSignal(interrupts.inFlight);
  session.say(
    `↩ rollback of run ${o.runId} (${start.cookbook}): ${session.applied.length} applied action(s) to undo`,
  );
  for (const a of [...session.applied].reverse())
    session.say(
      `    - step ${a.step + 1}: ${a.action.summary}${a.last === 'applying' ? ' (started, maybe not finished)' : ''}`,
    );
  const done = (r: Omit<RunResult, 'runId' | 'journal'>): RunResult => ({
    runId: o.runId,
    journal: session.journal.file,
    ...r,
  });
  try {
    if (!session.applied.length) return done({ exitCode: ExitCode.OK, outcome: 'rolled-back' });
    if (!o.yes) {
      let yes = false;
      try {
        yes = await o.prompter.yesNo(`Undo these ${session.applied.length} action(s)?`, interrupts.waits);
      } catch (e) {
        session.fail(`✗ ${formatError(e).split('\n')[0]}; nothing was changed`);
        return done({ exitCode: ExitCode.FAILED, outcome: 'aborted', message: formatError(e) });
      }
      if (!yes) {
        session.say('nothing was changed');
        return done({ exitCode: ExitCode.FAILED, outcome: 'aborted' });
      }
    }
    session.start();
    let res: RunResult;
    try {
      const r = await undoApplied(session.applied, env, session.journal, (l) => session.say(l));
      res = r.ok
        ? done({ exitCode: ExitCode.OK, outcome: 'rolled-back' })
        : done({
            exitCode: ExitCode.ROLLBACK_FAILED,
            outcome: 'rollback-failed',
            message: r.message,
            left: r.left.map((l) => `step ${l.record.step + 1}: ${l.record.action.summary} — ${l.why}`),
          });
    } catch (e) {
      res = done({
        exitCode: ExitCode.ROLLBACK_FAILED,
        outcome: 'rollback-failed',
        message: `the rollback stopped: ${formatError(e)}`,
      });
    }
    if (res.message) session.fail(`✗ ${res.message}`);
    session.end(res);
    return res;
  } finally {
    interrupts.close();
    await env.closeAll();
    o.prompter.close?.();
  }
}
