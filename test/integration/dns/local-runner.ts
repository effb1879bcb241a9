import { spawn } from 'node:child_process';
import type { CommandResult, RemoteRunner } from '../../../src/ssh/types.js';

/**
 * A RemoteRunner that runs argv on this machine, without a shell (test-only): stands in for
 * SSH to an authdns host when the DNS tests start their own servers instead of using the lab.
 */
export class LocalRunner implements RemoteRunner {
  readonly calls: string[][] = [];

  run(
    host: string,
    argv: string[],
    options: { stdin?: string; timeoutMs?: number } = {},
  ): Promise<CommandResult> {
    this.calls.push(argv);
    const started = Date.now();
    return new Promise((resolve) => {
      const stdin = options.stdin;
      const child = spawn(argv[0]!, argv.slice(1), {
        stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        timeout: options.timeoutMs ?? 30_000,
      });
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const result = (exitCode: number | null, error?: string): CommandResult => ({
        host,
        command: argv.join(' '),
        exitCode,
        stdout,
        stderr,
        durationMs: Date.now() - started,
        error,
      });
      child.on('error', (e) => resolve(result(null, e.message)));
      child.on('close', (code) => resolve(result(code)));
      if (child.stdin) {
        // A command that exits without reading its input is not an error of the runner.
        child.stdin.on('error', () => undefined);
        child.stdin.end(stdin);
      }
    });
  }
}
