import { SshError } from './errors.js';

/**
 * A command line for a remote POSIX shell. The text is final (every interpolated value is
 * already quoted), and `isSafe` says whether it only reads (and so also runs in dry-run).
 */
export interface RemoteCommand {
  readonly text: string;
  readonly isSafe: boolean;
}

/** A value that may be interpolated into a command: quoted as one word, or one word per item. */
export type CommandValue = string | number | readonly (string | number)[] | RemoteCommand;

/**
 * Quotes one word for a POSIX shell: `'…'`, each `'` written as `'\''`. The result is one word
 * for sh, dash and bash alike, whatever the input (`;`, `$()`, backquotes, newlines, globs).
 */
export function shellQuote(word: string | number): string {
  return `'${String(word).replace(/'/g, `'\\''`)}'`;
}

function isRemoteCommand(v: unknown): v is RemoteCommand {
  return (
    typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as RemoteCommand).text === 'string'
  );
}

function quoteValue(v: CommandValue): string {
  if (typeof v === 'string' || typeof v === 'number') return shellQuote(v);
  if (isRemoteCommand(v)) return v.text; // already built from trusted text and quoted values
  if (Array.isArray(v)) return v.map((w: string | number) => shellQuote(w)).join(' ');
  throw new SshError(
    `cannot interpolate a ${typeof v} into a remote command: use a string, a number or an array of them`,
  );
}

/**
 * Only a genuine template literal is trusted text: a look-alike array built at run time
 * (`cmd(['rm -rf ' + x])`) would bypass quoting, so it is refused.
 */
function isTemplateStrings(strings: unknown): strings is TemplateStringsArray {
  return (
    Array.isArray(strings) &&
    Object.isFrozen(strings) &&
    Array.isArray((strings as unknown as TemplateStringsArray).raw)
  );
}

function build(strings: TemplateStringsArray, values: CommandValue[], isSafe: boolean): RemoteCommand {
  if (!isTemplateStrings(strings))
    throw new SshError(
      'remote commands are built with a tagged template (cmd`…`) or from argv (argvCommand)',
    );
  let text = strings[0] ?? '';
  values.forEach((v, i) => {
    text += quoteValue(v) + (strings[i + 1] ?? '');
  });
  return { text: text.trim(), isSafe };
}

/**
 * Builds a command that changes something (skipped in dry-run): the template's literal text is
 * trusted, every `${value}` is quoted as one word (arrays as one word per item).
 * @example cmd`systemctl restart ${unit}` // unit "x; reboot" arrives as one word
 */
export function cmd(strings: TemplateStringsArray, ...values: CommandValue[]): RemoteCommand {
  return build(strings, values, false);
}

/** Builds a read-only command (also runs in dry-run); quoting as for {@link cmd}. */
export function safeCmd(strings: TemplateStringsArray, ...values: CommandValue[]): RemoteCommand {
  return build(strings, values, true);
}

/** Builds a command from argv words, each quoted. Unsafe (skipped in dry-run) unless `isSafe`. */
export function argvCommand(
  argv: readonly (string | number)[],
  options: { isSafe?: boolean } = {},
): RemoteCommand {
  if (argv.length === 0) throw new SshError('empty command: give the program and its arguments');
  return { text: argv.map((w) => shellQuote(w)).join(' '), isSafe: options.isSafe ?? false };
}

/**
 * Turns a command typed by an operator (`cookbook exec HOSTS -- CMD…`) into a remote command.
 * One argument is taken as a shell command line, as cumin and clush do (`'uptime; df -h'`);
 * several arguments are argv words, each quoted. Ad-hoc commands are never assumed safe.
 */
export function operatorCommand(words: readonly string[]): RemoteCommand {
  if (words.length === 0)
    throw new SshError('no command given: put it after --, e.g. cookbook exec HOSTS -- uptime');
  if (words.length === 1) return { text: words[0] ?? '', isSafe: false };
  return argvCommand(words);
}
