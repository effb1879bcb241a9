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
}

/**
 * The narrow interface other transports (the zonefile DNS backend, the proxy switch) use to
 * run a command on one host. Arguments are argv words, quoted by the implementation, never
 * interpolated into a shell string.
 */
export interface RemoteRunner {
  run(host: string, argv: string[], options?: { stdin?: string; timeoutMs?: number }): Promise<CommandResult>;
}
