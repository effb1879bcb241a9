/**
 * What the `cookbook lab …` commands share: their flags and how they report a lab error.
 */
import { Flags, type Command } from '@oclif/core';
import { GalleyError, formatError } from '../core/errors.js';
import { DEFAULT_LAB_BASE, DEFAULT_LAB_DIR } from './layout.js';

export const labFlags = {
  dir: Flags.string({
    env: 'GALLEY_LAB_DIR',
    summary: `State directory of the lab (default ${DEFAULT_LAB_DIR}).`,
    helpValue: 'DIR',
  }),
  base: Flags.string({
    env: 'GALLEY_LAB_BASE',
    summary: `Loopback range of the lab, 127.N (default ${DEFAULT_LAB_BASE}).`,
    helpValue: '127.N',
  }),
};

/** Prints a lab error as one message with its suggestions, and exits with its code. */
export function failWith(cmd: Command, e: unknown): never {
  if (e instanceof GalleyError) cmd.error(formatError(e), { exit: e.exitCode });
  throw e;
}
