import { hostname } from 'node:os';
import type { GalleyConfig } from '../config/schema.js';
import { formatDuration } from '../util/duration.js';
import { type ActionEnv, type AnyAction, type Change, actionFromJournal, isReversible } from './action.js';
import type { AuditLog } from './audit.js';
import { type Cookbook, type Step, parseArgs } from './cookbook.js';
import {
  CheckError,
  ConfigError,
  ExitCode,
  GalleyError,
  InterruptedError,
  UsageError,
  formatError,
} from './errors.js';
import { Journal, type RunOutcome, journalState, newRunId, readJournal } from './journal.js';
import { currentOwner, currentUser, type LockHandle, type LockManager } from './lock.js';
import type { Logger, Output } from './log.js';
import { type Plan, type PlannedStep, makePlan, planDrift, readPlan, writePlan } from './plan.js';
import type { Prompter } from './prompt.js';
import { redact } from './secrets.js';
import { observeUntil } from './verify.js';
import { type AppliedRecord, undoApplied } from './rollback.js';

export type FailurePolicy = 'rollback' | 'abort';

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
  log: Logger;
  /** Continue this earlier run (`cookbook resume RUN`). */
  resumeRunId?: string;
  /** Where Ctrl-C comes from (process by default; tests pass an emitter). */
  interrupts?: InterruptSource;
}

export interface InterruptSource {
  on(event: 'SIGINT', listener: () => void): unknown;
  off(event: 'SIGINT', listener: () => void): unknown;
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
}

class Stop extends Error {
  constructor(
    readonly outcome: RunOutcome,
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** A service registry shared by the actions of one run. */
function makeEnv(
  loadConfig: () => GalleyConfig,
  log: Logger,
  signal: AbortSignal,
  dryRun: boolean,
): ActionEnv & { closeAll(): Promise<void> } {
  let config: GalleyConfig | undefined;
  const services = new Map<string, { value: unknown; close?: (v: unknown) => Promise<void> | void }>();
  return {
    config: () => (config ??= loadConfig()),
    service<T>(key: string, create: () => T, close?: (t: T) => Promise<void> | void): T {
      const found = services.get(key);
      if (found) return found.value as T;
      const value = create();
      services.set(key, { value, close: close as ((v: unknown) => Promise<void> | void) | undefined });
      return value;
    },
    log,
    signal,
    dryRun,
    async closeAll() {
      for (const [, s] of [...services].reverse()) {
        try {
          await s.close?.(s.value);
        } catch (e) {
          log.debug(`closing a client: ${formatError(e)}`);
        }
      }
      services.clear();
    },
  };
}

const showChange = (c: Change) => `${c.subject}: ${c.from} → ${c.to}${c.detail ? ` (${c.detail})` : ''}`;

/**
 * Runs a cookbook: validates its arguments, takes its lock, and for each step observes,
 * shows the plan, asks, applies, verifies and journals; on failure retries, rolls back,
 * skips or aborts. Dry-run, confirmation, undo, journal and audit live here and nowhere else.
 */
export async function runCookbook(o: RunOptions): Promise<RunResult> {
  const controller = new AbortController();
  const dryRun = o.dryRun || Boolean(o.planOut);
  const env = makeEnv(o.loadConfig, o.log, controller.signal, dryRun);
  const interactive = !o.yes;
  const policy: FailurePolicy = o.onFailure ?? 'rollback';
  const w = (line: string) => o.out.write(`${redact(line)}\n`);

  // 1. Arguments: bad input stops here, before anything is recorded or changed.
  const args = parseArgs(o.cookbook, o.rawArgs, env);

  const resumed = o.resumeRunId ? readJournal(o.stateDir, o.resumeRunId) : undefined;
  const runId = o.resumeRunId ?? newRunId();
  const journal = new Journal(o.stateDir, runId);
  const who = { user: currentUser(), host: hostname() };
  const argText = Object.entries(o.rawArgs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `--${k}=${v}`)
    .join(' ');
  const applied: AppliedRecord[] = [];
  const prior = resumed ? journalState(resumed) : undefined;
  for (const a of prior?.applied ?? []) {
    applied.push({
      step: a.step,
      index: a.index,
      action: actionFromJournal(a.kind, a.params),
      before: a.before,
    });
  }

  let interrupted = false;
  let abandon: (() => void) | undefined;
  const onSigint = () => {
    if (interrupted) {
      w('\n^C again: abandoning the action in flight');
      abandon?.();
      return;
    }
    interrupted = true;
    controller.abort();
    w('\n^C: finishing the action in flight, then stopping (press Ctrl-C again to abandon it)');
  };
  const interrupts = o.interrupts ?? process;
  interrupts.on('SIGINT', onSigint);
  const abandonable = <T>(p: Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      abandon = () => reject(new InterruptedError());
      p.then(resolve, reject).finally(() => (abandon = undefined));
    });
  const checkInterrupt = () => {
    if (interrupted) throw new InterruptedError();
  };

  journal.write({
    type: 'run-start',
    time: new Date().toISOString(),
    runId,
    cookbook: o.name,
    args: o.rawArgs,
    ...who,
    pid: process.pid,
    dryRun,
    configFile: o.configFile,
    task: o.task,
    reason: o.reason,
    resumed: Boolean(resumed),
  });
  o.audit.record({
    event: 'START',
    runId,
    ...who,
    cookbook: o.name,
    args: argText,
    task: o.task,
    reason: o.reason,
    dryRun,
  });
  w(`▶ ${o.name}: ${o.cookbook.title}`);
  w(
    `  run ${runId}${resumed ? ' (resumed)' : ''} · ${dryRun ? 'DRY-RUN: nothing will be changed' : 'live'} · journal ${journal.file}`,
  );

  const report: Record<string, unknown> = {};
  const facts = new Map<string, unknown>(prior?.facts ?? []);
  const fact = async <T>(key: string, compute: () => Promise<T>): Promise<T> => {
    if (facts.has(key)) return facts.get(key) as T;
    const value = await compute();
    facts.set(key, value);
    if (!dryRun) journal.write({ type: 'fact', time: new Date().toISOString(), key, value });
    return value;
  };
  const steps: Step[] = o.cookbook.steps({
    ...env,
    args,
    runId,
    report: (k, v) => void (report[k] = v),
    fact,
  });
  let lock: LockHandle | undefined;
  let result: RunResult;

  const rollback = async (why: string): Promise<Stop> => {
    const r = await undoApplied(applied, env, journal, w);
    return r.ok
      ? new Stop('rolled-back', ExitCode.FAILED, why)
      : new Stop('rollback-failed', ExitCode.ROLLBACK_FAILED, r.message);
  };

  /** Decides what happens after a failure: ask, or follow the policy. */
  const decide = async (what: string, e: unknown): Promise<'retry' | 'skip' | Stop> => {
    if (e instanceof InterruptedError || interrupted) return interruptStop();
    // A missing or bad config or argument is not something a retry fixes: stop (exit 2).
    if ((e instanceof ConfigError || e instanceof UsageError) && !applied.length)
      return new Stop('failed', e.exitCode, formatError(e));
    w(`  ✗ ${what}: ${formatError(e)}`);
    const answer = interactive ? await o.prompter.onFailure(`${what}. What now?`, true) : policy;
    if (answer === 'retry') return 'retry';
    if (answer === 'skip') return 'skip';
    if (answer === 'rollback') return rollback(`${what}: ${formatError(e)}`);
    return new Stop(
      'aborted',
      ExitCode.FAILED,
      `${what}: ${formatError(e)} (aborted; \`cookbook resume ${runId}\` or \`cookbook rollback ${runId}\` later)`,
    );
  };
  const interruptStop = async (): Promise<Stop> => {
    w('■ interrupted');
    const doRollback =
      applied.length > 0 &&
      (interactive
        ? await o.prompter.yesNo('Interrupted. Roll back what this run applied?')
        : policy === 'rollback');
    if (doRollback) {
      const r = await rollback('interrupted');
      return r.outcome === 'rollback-failed'
        ? r
        : new Stop('interrupted', ExitCode.INTERRUPTED, 'interrupted by the operator; rolled back');
    }
    return new Stop(
      'interrupted',
      ExitCode.INTERRUPTED,
      `interrupted by the operator (\`cookbook resume ${runId}\` or \`cookbook rollback ${runId}\` later)`,
    );
  };

  /** Observes every step and collects the plan, applying nothing. */
  const planAll = async (print: boolean): Promise<{ planned: PlannedStep[]; failing: string[] }> => {
    const planned: PlannedStep[] = [];
    const failing: string[] = [];
    let changesBefore = false;
    for (const [i, s] of steps.entries()) {
      checkInterrupt();
      if (print) w(`[${i + 1}/${steps.length}] ${s.title}`);
      if (s.kind === 'check') {
        let note: string;
        if (changesBefore) note = 'runs after the changes above';
        else {
          try {
            const msg = await s.run();
            note = `holds now${msg ? `: ${msg}` : ''}`;
          } catch (e) {
            note = `DOES NOT HOLD NOW: ${formatError(e)}`;
            failing.push(`step ${i + 1} "${s.title}": ${formatError(e)}`);
          }
        }
        if (print)
          w(
            note.includes('\n')
              ? `    check: ${note.split('\n')[0]}\n${note.split('\n').slice(1).join('\n').replace(/^/gm, '      ')}`
              : `    check: ${note}`,
          );
        planned.push({ title: s.title, kind: 'check', actions: [], note });
        continue;
      }
      let actions: AnyAction[];
      try {
        actions = await s.build();
      } catch (e) {
        const note = changesBefore
          ? `cannot be planned before the changes above: ${formatError(e)}`
          : formatError(e);
        if (!changesBefore) failing.push(`step ${i + 1} "${s.title}": ${formatError(e)}`);
        if (print) w(`    ? ${note}`);
        planned.push({ title: s.title, kind: 'actions', actions: [], note });
        continue;
      }
      const pa = [];
      for (const a of actions) {
        const before = await a.definition.observe(a.params, env);
        const changes = a.definition.plan(a.params, before);
        pa.push({
          kind: a.definition.kind,
          summary: a.summary,
          params: a.params,
          changes,
          irreversible: isReversible(a) ? undefined : (a.definition.irreversibleBecause ?? 'no undo'),
        });
        if (print && changes.length) {
          w(`    · ${a.summary}${isReversible(a) ? '' : '  [IRREVERSIBLE]'}`);
          for (const c of changes) w(`        ${showChange(c)}`);
        }
      }
      if (pa.some((a) => a.changes.length)) changesBefore = true;
      else if (print) w('    = already done: nothing to change');
      planned.push({ title: s.title, kind: 'actions', actions: pa });
    }
    return { planned, failing };
  };

  const planOf = (planned: PlannedStep[]) =>
    makePlan({
      cookbook: o.name,
      args: o.rawArgs,
      configFile: o.configFile,
      createdAt: new Date().toISOString(),
      createdBy: `${who.user}@${who.host}`,
      steps: planned,
    });

  /** The live run: step by step, with confirmation, apply, verify and failure handling. */
  const runLive = async (): Promise<void> => {
    for (const [i, s] of steps.entries()) {
      checkInterrupt();
      w(`[${i + 1}/${steps.length}] ${s.title}`);
      if (prior?.doneSteps.has(i)) {
        w('    = done in the earlier attempt of this run; not re-applied');
        continue;
      }
      if (s.kind === 'check') {
        for (;;) {
          try {
            const msg = await abandonable(runCheck(s));
            const text = msg || 'holds';
            w(text.includes('\n') ? `    ✓\n${text.replace(/^/gm, '      ')}` : `    ✓ ${text}`);
            journal.write({
              type: 'step',
              time: new Date().toISOString(),
              step: i,
              title: s.title,
              status: 'done',
            });
            break;
          } catch (e) {
            const d = await decide(`check "${s.title}" failed`, e);
            if (d === 'retry') continue;
            if (d === 'skip') {
              journal.write({
                type: 'step',
                time: new Date().toISOString(),
                step: i,
                title: s.title,
                status: 'skipped',
              });
              break;
            }
            throw d;
          }
        }
        continue;
      }
      const status = await runActionStep(i, s);
      journal.write({ type: 'step', time: new Date().toISOString(), step: i, title: s.title, status });
    }
  };

  const runCheck = async (s: Extract<Step, { kind: 'check' }>): Promise<string> => {
    const deadline = Date.now() + s.timeoutMs;
    for (;;) {
      try {
        return (await s.run()) ?? '';
      } catch (e) {
        if (Date.now() + s.intervalMs > deadline || interrupted) throw e;
        await new Promise((r) => setTimeout(r, s.intervalMs));
      }
    }
  };

  const runActionStep = async (
    i: number,
    s: Extract<Step, { kind: 'actions' }>,
  ): Promise<'done' | 'already-done' | 'skipped'> => {
    for (;;) {
      try {
        const actions = await s.build();
        const observed = [];
        for (const a of actions) {
          const before = await a.definition.observe(a.params, env);
          observed.push({ a, before, changes: a.definition.plan(a.params, before) });
        }
        const todo = observed.map((x, index) => ({ ...x, index })).filter((x) => x.changes.length);
        if (!todo.length) {
          w('    = already done: nothing to change');
          return 'already-done';
        }
        const irreversible = todo.filter((x) => !isReversible(x.a));
        for (const x of todo) {
          w(`    · ${x.a.summary}${isReversible(x.a) ? '' : '  [IRREVERSIBLE]'}`);
          for (const c of x.changes) w(`        ${showChange(c)}`);
        }
        if (interactive) {
          const msg = irreversible.length
            ? `Step ${i + 1} includes ${irreversible.length} action(s) that CANNOT BE UNDONE. Apply it?`
            : `Apply step ${i + 1}?`;
          const answer = await o.prompter.confirmStep(msg, irreversible.length > 0);
          if (answer === 'skip') {
            w('    ↷ skipped by the operator');
            return 'skipped';
          }
          if (answer === 'abort')
            throw new Stop(
              'aborted',
              ExitCode.FAILED,
              `aborted by the operator at step ${i + 1} ("${s.title}")`,
            );
        }
        for (const x of todo) {
          await applyOne(i, x.index, x.a, x.before, x.changes);
        }
        return 'done';
      } catch (e) {
        if (e instanceof Stop) throw e;
        const d = await decide(`step ${i + 1} "${s.title}" failed`, e);
        if (d === 'retry') continue;
        if (d === 'skip') return 'skipped';
        throw d;
      }
    }
  };

  const applyOne = async (i: number, index: number, a: AnyAction, before: unknown, changes: Change[]) => {
    checkInterrupt();
    const d = a.definition;
    const base = { step: i, index, kind: d.kind, params: a.params, summary: a.summary, before, changes };
    const started = Date.now();
    try {
      await abandonable(d.apply(a.params, before, env));
    } catch (e) {
      // A failed apply may have changed something: keep it for rollback (undo restores `before`).
      journal.write({
        ...base,
        type: 'action',
        time: new Date().toISOString(),
        status: 'applied',
        error: formatError(e),
      });
      if (!applied.some((r) => r.step === i && r.index === index))
        applied.push({ step: i, index, action: a, before });
      throw e;
    }
    journal.write({ ...base, type: 'action', time: new Date().toISOString(), status: 'applied' });
    if (!applied.some((r) => r.step === i && r.index === index))
      applied.push({ step: i, index, action: a, before });
    try {
      if (d.verify) await abandonable(d.verify(a.params, before, env));
      else
        await abandonable(
          observeUntil(
            a.summary,
            () => d.observe(a.params, env),
            (now) => d.plan(a.params, now).length === 0,
            d.verifyTimeoutMs ?? 10_000,
          ),
        );
    } catch (e) {
      journal.write({
        ...base,
        type: 'action',
        time: new Date().toISOString(),
        status: 'failed',
        error: formatError(e),
      });
      throw e instanceof InterruptedError
        ? e
        : new CheckError(`verification of "${a.summary}" failed: ${formatError(e)}`);
    }
    journal.write({ ...base, type: 'action', time: new Date().toISOString(), status: 'verified' });
    w(`    ✓ ${a.summary} (${formatDuration(Date.now() - started)})`);
  };

  try {
    if (o.planIn) {
      const reviewed = readPlan(o.planIn);
      w(`  checking the world still matches the reviewed plan ${o.planIn}…`);
      const now = planOf((await planAll(false)).planned);
      const drift = planDrift(reviewed, now);
      if (drift.length) {
        w('✗ the world has drifted from the reviewed plan; nothing was changed:');
        for (const d of drift) w(`    - ${d}`);
        throw new Stop(
          'aborted',
          ExitCode.FAILED,
          `plan drift (${drift.length} difference${drift.length === 1 ? '' : 's'}); dry-run again and have it reviewed`,
        );
      }
      w('  ✓ the plan matches what was reviewed');
    }
    if (dryRun) {
      const { planned, failing } = await planAll(true);
      const plan = planOf(planned);
      if (o.planOut) {
        const files = writePlan(o.planOut, plan);
        w(
          `✎ plan written to ${files.markdown} (for review) and ${files.json} (for --plan); fingerprint ${plan.fingerprint.slice(0, 12)}`,
        );
      }
      if (failing.length) {
        w(`✗ dry-run: ${failing.length} check(s) would fail now:`);
        for (const f of failing) w(`    - ${f}`);
        throw new Stop('dry-run', ExitCode.FAILED, 'a check would fail');
      }
      w('✓ dry-run complete: nothing was changed');
      result = { runId, exitCode: ExitCode.OK, outcome: 'dry-run', plan, journal: journal.file };
    } else {
      if (o.locks && !o.noLocks) {
        const spec = o.cookbook.lock?.(args);
        if (spec) {
          lock = await (
            await o.locks(env)
          ).acquire({
            name: spec.name,
            concurrency: spec.concurrency,
            ttlMs: spec.ttlMs,
            owner: currentOwner(),
            runId,
          });
          w(`  🔒 lock ${spec.name} taken`);
        }
      }
      await runLive();
      w(`✓ ${o.name} done`);
      result = { runId, exitCode: ExitCode.OK, outcome: 'done', journal: journal.file };
    }
  } catch (e) {
    let stop: Stop;
    if (e instanceof Stop) stop = e;
    else if (e instanceof InterruptedError || interrupted) stop = await interruptStop();
    else if (e instanceof GalleyError) {
      w(`✗ ${formatError(e)}`);
      stop = new Stop('failed', e.exitCode, formatError(e));
    } else {
      w(`✗ unexpected error: ${formatError(e)}`);
      if (process.env.GALLEY_DEBUG && e instanceof Error) w(e.stack ?? '');
      stop = new Stop('failed', ExitCode.UNEXPECTED, formatError(e));
    }
    if (stop.outcome !== 'dry-run' && stop.outcome !== 'rolled-back' && stop.outcome !== 'rollback-failed')
      w(`✗ ${stop.message}`);
    else if (stop.outcome === 'rolled-back') w(`✗ failed and rolled back: ${stop.message}`);
    result = {
      runId,
      exitCode: stop.exitCode,
      outcome: stop.outcome === 'dry-run' ? 'failed' : stop.outcome,
      journal: journal.file,
      message: stop.message,
    };
  } finally {
    interrupts.off('SIGINT', onSigint);
    if (lock) {
      try {
        await lock.release();
      } catch (e) {
        w(`WARNING: could not release lock ${lock.name}: ${formatError(e)} (it expires by itself)`);
      }
    }
    await env.closeAll();
  }
  if (result.message) result.message = redact(result.message);
  if (Object.keys(report).length) result.report = report;
  journal.write({
    type: 'run-end',
    time: new Date().toISOString(),
    outcome: result.outcome,
    exitCode: result.exitCode,
    message: result.message,
  });
  o.audit.record({
    event: 'END',
    runId,
    ...who,
    cookbook: o.name,
    args: argText,
    task: o.task,
    reason: o.reason,
    dryRun,
    outcome: result.outcome,
    exitCode: result.exitCode,
  });
  return result;
}

export interface RollbackOptions {
  runId: string;
  stateDir: string;
  loadConfig(): GalleyConfig;
  yes: boolean;
  prompter: Prompter;
  out: Output;
  log: Logger;
  audit: AuditLog;
}

/**
 * `cookbook rollback RUN`: undoes, newest first, every action a finished, failed or
 * interrupted run applied and did not undo, verifying each. The cookbook's module must be
 * loaded first (it registers the action kinds the journal names).
 */
export async function rollbackRun(o: RollbackOptions): Promise<RunResult> {
  const entries = readJournal(o.stateDir, o.runId);
  const start = entries.find((e) => e.type === 'run-start');
  if (!start || start.type !== 'run-start') throw new GalleyError(`run ${o.runId} has no start record`);
  const journal = new Journal(o.stateDir, o.runId);
  const w = (line: string) => o.out.write(`${redact(line)}\n`);
  const env = makeEnv(o.loadConfig, o.log, new AbortController().signal, false);
  const who = { user: currentUser(), host: hostname() };
  const applied: AppliedRecord[] = journalState(entries).applied.map((a) => ({
    step: a.step,
    index: a.index,
    action: actionFromJournal(a.kind, a.params),
    before: a.before,
  }));
  w(`↩ rollback of run ${o.runId} (${start.cookbook}): ${applied.length} applied action(s) to undo`);
  for (const a of [...applied].reverse()) w(`    - step ${a.step + 1}: ${a.action.summary}`);
  if (!applied.length)
    return { runId: o.runId, exitCode: ExitCode.OK, outcome: 'rolled-back', journal: journal.file };
  if (!o.yes && !(await o.prompter.yesNo(`Undo these ${applied.length} action(s)?`))) {
    w('nothing was changed');
    return { runId: o.runId, exitCode: ExitCode.FAILED, outcome: 'aborted', journal: journal.file };
  }
  o.audit.record({
    event: 'START',
    runId: o.runId,
    ...who,
    cookbook: `rollback ${start.cookbook}`,
    args: '',
    dryRun: false,
  });
  let res: RunResult;
  try {
    const r = await undoApplied(applied, env, journal, w);
    res = r.ok
      ? { runId: o.runId, exitCode: ExitCode.OK, outcome: 'rolled-back', journal: journal.file }
      : {
          runId: o.runId,
          exitCode: ExitCode.ROLLBACK_FAILED,
          outcome: 'rollback-failed',
          journal: journal.file,
          message: r.message,
        };
  } finally {
    await env.closeAll();
  }
  journal.write({
    type: 'run-end',
    time: new Date().toISOString(),
    outcome: res.outcome,
    exitCode: res.exitCode,
    message: res.message,
  });
  o.audit.record({
    event: 'END',
    runId: o.runId,
    ...who,
    cookbook: `rollback ${start.cookbook}`,
    args: '',
    dryRun: false,
    outcome: res.outcome,
    exitCode: res.exitCode,
  });
  return res;
}
