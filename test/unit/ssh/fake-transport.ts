import type { CommandTransport } from '../../../src/ssh/pool.js';
import type { CommandResult } from '../../../src/ssh/types.js';

/** An in-memory transport: records every command sent and answers from a script. */
export class FakeTransport implements CommandTransport {
  readonly sent: { host: string; command: string; stdin?: string; timeoutMs: number }[] = [];
  closed = false;

  constructor(
    private readonly answer: (host: string, command: string) => Partial<CommandResult> = () => ({}),
  ) {}

  async exec(
    host: string,
    command: string,
    options: { stdin?: string; timeoutMs: number },
  ): Promise<CommandResult> {
    this.sent.push({ host, command, ...options });
    await Promise.resolve();
    return {
      host,
      command,
      exitCode: 0,
      stdout: '',
      stderr: '',
      durationMs: 1,
      ...this.answer(host, command),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
