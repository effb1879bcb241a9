import { Command, Errors } from '@oclif/core';
import { ExitCode, GalleyError, formatError } from '../core/errors.js';

/**
 * Base of Galley's commands: a bad flag or argument (oclif's parse errors) is one line on
 * stderr and exit 2, as Galley's exit codes say (`EXIT_CODES_HELP`), instead of oclif's default 1.
 */
export abstract class GalleyCommand extends Command {
  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    if (err instanceof Errors.CLIError && 'parse' in err) {
      process.stderr.write(
        `cookbook: ${parseErrorLine(err.message)}\n  Try: \`cookbook ${this.id ?? ''} --help\`\n`,
      );
      this.exit(ExitCode.USAGE);
    }
    return super.catch(err);
  }
}

/**
 * One line for an oclif parse error. oclif lists missing arguments on the lines after
 * "Missing 1 required arg:"; they are named here ("missing argument DIR: …").
 */
export function parseErrorLine(message: string): string {
  const [first = '', ...rest] = message.split('\n');
  const m = /^Missing (\d+) required args?:?$/.exec(first.trim());
  if (!m) return first;
  const named = rest
    .map((l) => /^(\S+)\s+(.*)$/.exec(l.trim()))
    .filter((x): x is RegExpExecArray => x !== null && !/^See$/.test(x[1]!))
    .map((x) => `${x[1]!.toUpperCase()} (${x[2]})`);
  return named.length ? `missing argument${named.length > 1 ? 's' : ''} ${named.join(', ')}` : first;
}

/** Writes an error for the operator (one line, then suggestions) and returns its exit code. */
export function reportError(e: unknown): number {
  process.stderr.write(`cookbook: ${formatError(e)}\n`);
  if (e instanceof GalleyError) return e.exitCode;
  if (process.env.GALLEY_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  return ExitCode.UNEXPECTED;
}
