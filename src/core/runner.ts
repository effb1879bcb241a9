import type { GalleyConfig } from '../config/schema.js';
import type { ActionEnv } from './action.js';
import type { AuditLog } from './audit.js';
import { type Cookbook, type CookbookContext, parseArgs } from './cookbook.js';
import { ExitCode, GalleyError, formatError } from './errors.js';
import { FailureHandler, type FailurePolicy, isInterruption } from './failure-policy.js';
import { type InterruptSource, Interrupts } from './interrupts.js';
import type { RunOutcome } from './journal.js';
import { LivePass } from './live-pass.js';
import { currentUser, type LockManager } from './lock.js';
import type { Logger, Output } from './log.js';
import { type Plan, type PlannedStep, makePlan, planDrift, readPlan, writePlan } from './plan.js';
import { planSteps } from './plan-pass.js';
import type { Prompter } from './prompt.js';
import { recheckDoneSteps, recheckFailedUndos } from './resume-check.js';
import { checkReview } from './review.js';
import { type RunEnv, runEnv } from './run-env.js';
import { checkSafeState } from './safe-state.js';
import { redact } from './secrets.js';
import { type PriorAttempt, RunSession, Stop, resumableRun } from './session.js';
import { undoApplied } from './undo.js';

export type { FailurePolicy } from './failure-policy.js';
export type { InterruptSource } from './interrupts.js';

/** Everything a run needs; the CLI builds it from flags, tests build it by hand. */
export interface RunOptions {
  name: string;
  cookbook: Cookbook;
  rawArgs: Record<string, string | undefined>;
  dryRun: boolean;
  /** Non-interactive: never ask, take every step. */
  yes: boolean;
  /** What to do on a failure when not asking (default rollback). */
  onFailure?: FailurePolicy;
  task?: string;
  reason?: string;
  noLocks?: boolean;
  /** Write the dry-run plan here (Markdown + JSON). Implies a dry-run. */
  planOut?: string;
  /** Run only if the world still matches this reviewed plan. */
  planIn?: string;
  configFile?: string;
  loadConfig(): GalleyConfig;
  stateDir: string;
  audit: AuditLog;
  /** Chooses the lock manager once the config is known. */
  locks?(env: ActionEnv): LockManager | Promise<LockManager>;
  prompter: Prompter;
  /** Progress and plans for the operator. */
  out: Output;
  /** Errors and the final line of a failed run (stderr in the CLI; `out` by default). */
  errOut?: Output;
  log: Logger;
  /** Continue this earlier run (`cookbook resume RUN`). */
  resumeRunId?: string;
  /** Where stop signals come from (the process by default; tests pass an emitter). */
  interrupts?: InterruptSource;
}

export interface RunResult {
  runId: string;
  exitCode: number;
  outcome: RunOutcome;
  plan?: Plan;
  journal: string;
  message?: string;
  /** What the cookbook reported (ctx.report), e.g. the status it gathered. */
  report?: Record<string, unknown>;
  /** The actions still applied when a rollback could not finish. */
  left?: string[];
}

/** The context a cookbook's steps see: the run's environment (its live signal included), arguments and facts. */
function cookbookContext<A>(
  env: RunEnv,
  args: A,
  session: RunSession,
  report: Record<string, unknown>,
): CookbookContext<A> {
  const ctx = Object.create(env) as CookbookContext<A>;
  return Object.assign(ctx, {
    args,
    runId: session.runId,
    report: (k: string, v: unknown) => void (report[k] = v),
    fact: <T>(key: string, compute: () => Promise<T>) => session.fact(key, compute),
  });
}

/** The environment file when there is one (a cookbook that needs none runs without). */
function configIfAny(env: RunEnv): GalleyConfig | undefined {
  try {
    return env.config();
  } catch {
    return undefined;
  }
}

/** Turns whatever ended the run into its Stop. */
async function stopOf(
  e: unknown,
  interrupts: Interrupts,
  failures: FailureHandler,
  session: RunSession,
): Promise<Stop> {
  if (e instanceof Stop) return e;
  if (isInterruption(e, interrupts)) return failures.interrupted();
  if (e instanceof GalleyError) {
    if (!session.applied.length) return failures.refused(formatError(e), e.exitCode);
    return new Stop('failed', e.exitCode, formatError(e));
  }
  if (process.env.GALLEY_DEBUG && e instanceof Error) session.fail(e.stack ?? '');
  return new Stop('failed', ExitCode.UNEXPECTED, `unexpected error: ${formatError(e)}`);
}

/**
 * Runs a cookbook: validates its arguments, takes its lock, and for each step observes,
 * shows the plan, asks, applies, verifies and journals; on failure retries, rolls back,
 * skips or aborts; at every end other than "done" it checks the cookbook's safe state.
 * Dry-run, confirmation, undo, journal and audit live here and nowhere else.
 */
export async function runCookbook(o: RunOptions): Promise<RunResult> {
  const dryRun = o.dryRun || Boolean(o.planOut);
  const env = runEnv(o.loadConfig, o.log, dryRun);
  const interactive = !o.yes;

  // Bad input stops here, before anything is recorded or changed.
  const args = parseArgs(o.cookbook, o.rawArgs, env);
  const prior: PriorAttempt | undefined = o.resumeRunId ? resumableRun(o.stateDir, o.resumeRunId) : undefined;
  const reviewed = o.planIn ? readPlan(o.planIn) : undefined;
  // Two-person review (src/core/review.ts): a live run of a cookbook with `review: required`
  // needs --plan approved by someone else; refused here (exit 2), before anything is recorded.
  const approvedBy = dryRun
    ? undefined
    : checkReview(configIfAny(env), o.name, reviewed, currentUser(), prior?.approvedBy).approvedBy;

  const session = new RunSession({
    stateDir: o.stateDir,
    audit: o.audit,
    out: o.out,
    errOut: o.errOut,
    name: o.name,
    rawArgs: o.rawArgs,
    dryRun,
    runId: o.resumeRunId,
    resumed: Boolean(prior),
    task: o.task,
    reason: o.reason,
    configFile: o.configFile,
    facts: prior?.facts,
    approvedBy,
  });
  env.run = { id: session.runId, ...session.who, task: o.task, reason: o.reason };
  if (prior) session.restoreApplied(prior.applied);
  for (const w of prior?.warnings ?? []) session.say(`WARNING: ${w}`);
  const interrupts = new Interrupts(o.interrupts ?? process, (l) => session.say(l)).listen();
  env.useSignal(interrupts.waits);
  const failures = new FailureHandler({
    session,
    interrupts,
    prompter: o.prompter,
    interactive,
    policy: o.onFailure ?? 'rollback',
    rollback: async (why) => {
      env.useSignal(interrupts.inFlight);
      const r = await undoApplied(session.applied, env, session.journal, (l) => session.say(l));
      const stop = r.ok
        ? new Stop('rolled-back', ExitCode.FAILED, `${why} (rolled back: everything applied was undone)`)
        : new Stop('rollback-failed', ExitCode.ROLLBACK_FAILED, r.message ?? 'rollback failed');
      if (!r.ok)
        leftApplied = r.left.map((l) => `step ${l.record.step + 1}: ${l.record.action.summary} — ${l.why}`);
      return stop;
    },
  });
  let leftApplied: string[] | undefined;

  session.start();
  session.say(`▶ ${o.name}: ${o.cookbook.title}`);
  session.say(
    `  run ${session.runId}${prior ? ' (resumed)' : ''} · ${dryRun ? 'DRY-RUN: nothing will be changed' : 'live'} · journal ${session.journal.file}`,
  );
  if (approvedBy) session.say(`  plan approved by ${approvedBy}`);

  const report: Record<string, unknown> = {};
  const ctx = cookbookContext(env, args, session, report);
  const planOf = (planned: PlannedStep[]) =>
    makePlan({
      cookbook: o.name,
      args: o.rawArgs,
      configFile: o.configFile,
      createdAt: session.now(),
      createdBy: `${session.who.user}@${session.who.host}`,
      steps: planned,
    });

  let result: RunResult;
  let plan: Plan | undefined;
  try {
    const steps = o.cookbook.steps(ctx);
    if (reviewed) {
      session.say(`  checking the world still matches the reviewed plan ${o.planIn}…`);
      const drift = planDrift(reviewed, planOf((await planSteps(steps, env, interrupts)).planned));
      if (drift.length) {
        session.say('✗ the world has drifted from the reviewed plan; nothing was changed:');
        for (const d of drift) session.say(`    - ${d}`);
        throw new Stop(
          'refused',
          ExitCode.FAILED,
          `refused: plan drift (${drift.length} difference${drift.length === 1 ? '' : 's'}); nothing was changed; dry-run again and have it reviewed`,
        );
      }
      session.say('  ✓ the plan matches what was reviewed');
    }
    if (dryRun) {
      const { planned, failing } = await planSteps(steps, env, interrupts, (l) => session.say(l));
      plan = planOf(planned);
      if (o.planOut) {
        const files = writePlan(o.planOut, plan);
        session.say(
          `✎ plan written to ${files.markdown} (for review) and ${files.json} (for --plan); fingerprint ${plan.fingerprint.slice(0, 12)}`,
        );
      }
      if (failing.length) {
        session.say(`✗ dry-run: ${failing.length} check(s) would fail now:`);
        for (const f of failing) session.say(`    - ${f}`);
        throw new Stop(
          'failed',
          ExitCode.FAILED,
          `dry-run: ${failing.length} check(s) would fail now; nothing was changed`,
        );
      }
      session.say('✓ dry-run complete: nothing was changed');
      interrupts.check();
      result = {
        runId: session.runId,
        exitCode: ExitCode.OK,
        outcome: 'dry-run',
        plan,
        journal: session.journal.file,
      };
    } else {
      const spec = !o.noLocks && o.locks ? o.cookbook.lock?.(args, env) : undefined;
      if (spec && o.locks) await session.takeLock(await o.locks(env), spec);
      if (prior) {
        for (const undone of await recheckFailedUndos(session, env)) prior.doneSteps.delete(undone);
        if (prior.doneSteps.size) {
          session.say(`  observing again the ${prior.doneSteps.size} step(s) the journal records as done…`);
          const drift = await recheckDoneSteps(steps, prior.doneSteps, env, interrupts);
          if (drift.length) {
            session.say('✗ the world is not what the journal recorded; resume refuses and changed nothing:');
            for (const d of drift) session.say(`    - ${d}`);
            throw new Stop(
              'refused',
              ExitCode.FAILED,
              `refused: the world drifted since run ${session.runId} stopped (${drift.length} difference${drift.length === 1 ? '' : 's'}); nothing was changed; check what changed, then \`cookbook rollback ${session.runId}\` or fix it by hand`,
            );
          }
        }
      }
      await new LivePass({
        steps,
        env,
        session,
        interrupts,
        prompter: o.prompter,
        interactive,
        failures,
        doneSteps: prior?.doneSteps,
      }).run();
      // A signal during the last step still ends the run as interrupted.
      interrupts.check();
      session.say(`✓ ${o.name} done`);
      result = {
        runId: session.runId,
        exitCode: ExitCode.OK,
        outcome: 'done',
        journal: session.journal.file,
      };
    }
  } catch (e) {
    let stop: Stop;
    try {
      stop = await stopOf(e, interrupts, failures, session);
    } catch (inner) {
      stop = new Stop(
        'failed',
        ExitCode.UNEXPECTED,
        `unexpected error while stopping: ${formatError(inner)}`,
      );
    }
    result = {
      runId: session.runId,
      exitCode: stop.exitCode,
      outcome: stop.outcome,
      journal: session.journal.file,
      message: stop.message,
      ...(plan ? { plan } : {}),
    };
    const safe = !dryRun ? o.cookbook.safeState?.(ctx) : undefined;
    if (safe) {
      // Something was changed (and maybe undone) by this run or an earlier attempt of it.
      const changed =
        session.applied.length > 0 ||
        result.outcome === 'rolled-back' ||
        result.outcome === 'rollback-failed' ||
        Boolean(prior);
      env.useSignal(new AbortController().signal);
      const verdict = await checkSafeState(safe, session, changed);
      if (!verdict.holds && changed) {
        result = {
          ...result,
          exitCode: ExitCode.ROLLBACK_FAILED,
          outcome: 'unsafe',
          message: `unsafe state: ${verdict.problem?.split('\n')[0]} (${stop.message})`,
        };
      }
    }
    session.fail(`✗ ${stop.shown && result.outcome === stop.outcome ? stop.shown : result.message}`);
    if (leftApplied) result.left = leftApplied;
  } finally {
    interrupts.close();
    await session.releaseLock();
    await env.closeAll();
    o.prompter.close?.();
  }
  if (result.message) result.message = redact(result.message);
  if (Object.keys(report).length) result.report = report;
  session.end(result);
  return result;
}

export { type RollbackOptions, rollbackRun } from './rollback-run.js';
