import { Command, Errors } from '@oclif/core';
import { ExitCode, GalleyError, formatError } from '../core/errors.js';

/**
 * Base of Galley's commands: a bad flag or argument (oclif's parse errors) is one line on
 * stderr and exit 2, as DESIGN.md's exit codes say, instead of oclif's default 1.
 */
export abstract class GalleyCommand extends Command {
  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    if (err instanceof Errors.CLIError && 'parse' in err) {
      process.stderr.write(
        `cookbook: ${err.message.split('\n')[0]}\n  Try: \`cookbook ${this.id ?? ''} --help\`\n`,
      );
      this.exit(ExitCode.USAGE);
    }
    return super.catch(err);
  }
}

/** Writes an error for the operator (one line, then suggestions) and returns its exit code. */
export function reportError(e: unknown): number {
  process.stderr.write(`cookbook: ${formatError(e)}\n`);
  if (e instanceof GalleyError) return e.exitCode;
  if (process.env.GALLEY_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  return ExitCode.UNEXPECTED;
}
