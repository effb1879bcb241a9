/** Result of one command on one host (a failure has the same fields as a success). */
export interface CommandResult {
  host: string;
  /** The command as run (already quoted), for display. */
  command: string;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** Set when the command could not run at all (connection refused, timeout, host key mismatch…). */
  error?: string;
  /** Dry-run: the command changes something, so it was only shown, never sent (exitCode is null). */
  wouldRun?: boolean;
}

/**
 * The narrow interface other transports (the zonefile DNS backend, the proxy switch) use to
 * run a command on one host. Arguments are argv words, quoted by the implementation, never
 * interpolated into a shell string.
 *
 * Commands are unsafe (they change something) unless `isSafe` is set: in dry-run an unsafe
 * command is not sent, and the result has `wouldRun: true`.
 */
export interface RemoteRunner {
  run(
    host: string,
    argv: string[],
    options?: { stdin?: string; timeoutMs?: number; isSafe?: boolean },
  ): Promise<CommandResult>;
}
