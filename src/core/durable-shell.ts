import { UsageError } from './errors.js';

/**
 * Whether a shell survives a dropped SSH session, as spicerack's ensure_shell_is_durable
 * decides: not attached to a terminal (a script, cron, a pipe), or inside screen (STY) or
 * tmux (TMUX). A terminal outside both dies with the session that owns it, mid-run.
 */
export function shellIsDurable(terminal: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  return !terminal || Boolean(env.STY) || Boolean(env.TMUX);
}

/**
 * The durable-shell rule of a live run that changes things (cli.durable_shell): `warn` returns
 * a warning line, `require` throws UsageError (exit 2, nothing changed), `off` says nothing.
 */
export function checkDurableShell(
  mode: 'warn' | 'require' | 'off',
  terminal: boolean,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (mode === 'off' || shellIsDurable(terminal, env)) return undefined;
  const why =
    'this run changes things and is not inside tmux or screen: a dropped SSH session would kill it mid-run';
  if (mode === 'require')
    throw new UsageError(
      `refused: ${why} (cli.durable_shell is "require"); nothing was changed; run it again inside tmux or screen`,
    );
  return `WARNING: ${why}; start tmux or screen first (cli.durable_shell: require refuses)`;
}
