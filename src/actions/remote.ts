import { defineAction, type ActionEnv, type Change } from '../core/action.js';
import { CheckError } from '../core/errors.js';
import { argvCommand, type RemoteCommand } from '../ssh/command.js';
import { openRemote, type Remote } from '../ssh/remote.js';
import { ServiceControl } from '../ssh/services.js';
import type { CommandResult } from '../ssh/types.js';

/**
 * The run's SSH side: one pooled connection per host, closed at the end of the run. Its
 * executor is armed with the run's dry-run flag, so an unsafe command can never be sent in a
 * dry-run, even by mistake (the Runner already never applies in one).
 */
export function remoteOf(env: ActionEnv): Remote {
  return env.service(
    'ssh',
    () => openRemote(env.config(), { dryRun: env.dryRun }),
    (r) => r.close(),
  );
}

/** Runs a read-only command on one host and returns its result; throws if it could not run or exited non-zero. */
export async function readOn(
  env: ActionEnv,
  host: string,
  command: RemoteCommand,
  options: { allowExit?: number[] } = {},
): Promise<CommandResult> {
  if (!command.isSafe) throw new Error(`readOn needs a read-only command (safeCmd): ${command.text}`);
  const report = await remoteOf(env).executor.execute([host], command);
  const r = report.results[0]!;
  if (r.error !== undefined) throw new CheckError(`${host}: cannot run \`${command.text}\`: ${r.error}`);
  if (r.exitCode !== 0 && !(options.allowExit ?? []).includes(r.exitCode ?? -1)) {
    throw new CheckError(
      `${host}: \`${command.text}\` exited ${r.exitCode}: ${r.stderr.trim().split('\n').pop() ?? ''}`,
    );
  }
  return r;
}

/** Runs a command that changes something on one host; throws with its stderr if it fails. */
export async function mutateOn(
  env: ActionEnv,
  host: string,
  command: RemoteCommand,
  options: { stdin?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const report = await remoteOf(env).executor.execute([host], command, options);
  const r = report.results[0]!;
  if (r.error !== undefined) throw new CheckError(`${host}: cannot run \`${command.text}\`: ${r.error}`);
  if (r.exitCode !== 0)
    throw new CheckError(
      `${host}: \`${command.text}\` exited ${r.exitCode}: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`,
    );
  return r;
}

function services(env: ActionEnv): ServiceControl {
  return env.service('ssh:services', () => new ServiceControl(remoteOf(env).executor));
}

type UnitState = { active: string };

/** Starts or stops a unit on a host; undo puts it back as it was. Verified with is-active. */
export const ensureService = defineAction<
  { host: string; unit: string; state: 'active' | 'inactive' },
  UnitState
>({
  kind: 'ssh.ensure-service',
  describe: (p) => `${p.host}: ${p.state === 'active' ? 'start' : 'stop'} ${p.unit}`,
  observe: async (p, env) => ({ active: await services(env).isActive(p.host, p.unit) }),
  plan: (p, b) =>
    (b.active === 'active') === (p.state === 'active')
      ? []
      : [{ subject: `${p.host} ${p.unit}`, from: b.active, to: p.state }],
  async apply(p, _b, env) {
    if (p.state === 'active') await services(env).start(p.host, p.unit);
    else await services(env).stop(p.host, p.unit);
  },
  async verify(p, _b, env) {
    await services(env).waitForState(p.host, p.unit, p.state, { timeoutMs: 30_000, intervalMs: 200 });
  },
  async undo(p, b, env) {
    await services(env).restore({ host: p.host, unit: p.unit, previous: b.active });
  },
  comparable: (s) => s.active === 'active',
  verifyTimeoutMs: 30_000,
});

/**
 * Restarts a unit on a host (always planned: a restart is the point). Verified active again;
 * undo has nothing to restore beyond the unit running as before.
 */
export const restartService = defineAction<{ host: string; unit: string }, UnitState>({
  kind: 'ssh.restart-service',
  describe: (p) => `${p.host}: restart ${p.unit}`,
  observe: async (p, env) => ({ active: await services(env).isActive(p.host, p.unit) }),
  plan: (p, b) => [{ subject: `${p.host} ${p.unit}`, from: b.active, to: 'restarted' }],
  async apply(p, _b, env) {
    await services(env).restart(p.host, p.unit);
  },
  async verify(p, _b, env) {
    await services(env).waitForState(p.host, p.unit, 'active', { timeoutMs: 30_000, intervalMs: 200 });
  },
  async undo(p, b, env) {
    await services(env).restore({ host: p.host, unit: p.unit, previous: b.active });
  },
  comparable: (s) => s.active === 'active',
});

/** Writes a file on a host (through stdin, never through the shell); undo writes back the previous content. */
export const writeRemoteFile = defineAction<
  { host: string; path: string; content: string },
  { exists: boolean; content?: string }
>({
  kind: 'ssh.write-file',
  describe: (p) => `${p.host}: write ${p.path}`,
  observe: (p, env) => readRemoteFile(env, p.host, p.path),
  plan: (p, b) =>
    b.content === p.content
      ? []
      : fileChanges(`${p.host}:${p.path}`, b.exists ? (b.content ?? '') : undefined, p.content),
  async apply(p, _b, env) {
    await mutateOn(
      env,
      p.host,
      argvCommand(['sh', '-c', 'cat > "$1.galley.tmp" && mv "$1.galley.tmp" "$1"', 'write', p.path]),
      { stdin: p.content },
    );
  },
  async undo(p, b, env) {
    if (b.exists)
      await mutateOn(
        env,
        p.host,
        argvCommand(['sh', '-c', 'cat > "$1.galley.tmp" && mv "$1.galley.tmp" "$1"', 'write', p.path]),
        { stdin: b.content ?? '' },
      );
    else await mutateOn(env, p.host, argvCommand(['rm', '-f', '--', p.path]));
  },
});

/** A file's change, line by line when only some lines of a longer file change. */
function fileChanges(subject: string, before: string | undefined, after: string): Change[] {
  const a = before?.split('\n');
  const b = after.split('\n');
  if (a && a.length === b.length && a.length > 1) {
    return b.flatMap((line, i) =>
      line === a[i]
        ? []
        : [{ subject: `${subject} line ${i + 1}`, from: JSON.stringify(a[i]), to: JSON.stringify(line) }],
    );
  }
  return [
    { subject, from: before === undefined ? 'absent' : JSON.stringify(before), to: JSON.stringify(after) },
  ];
}

/** Reads a file on a host (read-only). */
export async function readRemoteFile(
  env: ActionEnv,
  host: string,
  path: string,
): Promise<{ exists: boolean; content?: string }> {
  const r = await readOn(
    env,
    host,
    argvCommand(['sh', '-c', 'if [ -e "$1" ]; then cat -- "$1"; else exit 3; fi', 'read', path], {
      isSafe: true,
    }),
    { allowExit: [3] },
  );
  return r.exitCode === 3 ? { exists: false } : { exists: true, content: r.stdout };
}

/** A unit's active state on a host (read-only). */
export async function unitState(env: ActionEnv, host: string, unit: string): Promise<string> {
  return services(env).isActive(host, unit);
}

/**
 * Empties a directory on a host (keeps the directory). Irreversible: what was there is gone,
 * so the Runner asks for an explicit go and a rollback that reaches it stops (exit 93).
 */
export const wipeDirectory = defineAction<{ host: string; path: string }, { entries: number }>({
  kind: 'ssh.wipe-directory',
  describe: (p) => `${p.host}: empty ${p.path}`,
  irreversibleBecause: 'the files are deleted',
  async observe(p, env) {
    const r = await readOn(
      env,
      p.host,
      argvCommand(
        ['sh', '-c', 'if [ -d "$1" ]; then ls -A -- "$1" | wc -l; else echo 0; fi', 'count', p.path],
        { isSafe: true },
      ),
    );
    return { entries: Number(r.stdout.trim()) || 0 };
  },
  plan: (p, b) =>
    b.entries
      ? [
          {
            subject: `${p.host}:${p.path}`,
            from: `${b.entries} entr${b.entries === 1 ? 'y' : 'ies'}`,
            to: 'empty',
          },
        ]
      : [],
  async apply(p, _b, env) {
    if (!p.path.startsWith('/') || p.path.split('/').filter(Boolean).length < 2)
      throw new CheckError(`refusing to empty ${p.path}: not a directory two levels deep`);
    await mutateOn(env, p.host, argvCommand(['find', p.path, '-mindepth', '1', '-delete']));
  },
});
