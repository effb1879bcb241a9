import { Command, Errors } from '@oclif/core';
import { ExitCode } from '../core/errors.js';

/**
 * Base of Galley's commands: a bad flag or argument (oclif's parse errors) is one line on
 * stderr and exit 2, as DESIGN.md's exit codes say, instead of oclif's default 1.
 */
export abstract class GalleyCommand extends Command {
  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    if (err instanceof Errors.CLIError && 'parse' in err) {
      process.stderr.write(`cookbook: ${err.message.split('\n')[0]}\n  Try: \`cookbook ${this.id ?? ''} --help\`\n`);
      this.exit(ExitCode.USAGE);
    }
    return super.catch(err);
  }
}
