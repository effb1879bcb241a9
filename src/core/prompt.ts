import { createInterface, type Interface } from 'node:readline';
import { GalleyError } from './errors.js';

/** The operator's answers to the Runner's questions. */
export type StepAnswer = 'go' | 'skip' | 'abort';
export type FailureAnswer = 'retry' | 'rollback' | 'skip' | 'abort';

/**
 * A question nobody can answer: no terminal, and standard input closed (or out of answers),
 * without --yes. The Runner ends the run at once (exit 1); it never counts as "yes".
 */
export class NoAnswerError extends GalleyError {
  constructor(question: string) {
    super(`"${question}" needs an answer: this run needs --yes or a terminal (standard input is closed)`, {
      suggestions: ['run it in a terminal, or with --yes (and --on-failure) for a script'],
    });
  }
}

/**
 * How the Runner asks. The terminal implementation uses @inquirer/prompts; without a
 * terminal, questions are plain lines answered by lines of standard input; tests inject
 * scripted answers. A question that cannot be answered (closed stdin) throws NoAnswerError;
 * the signal (Ctrl-C) ends a question at once.
 */
export interface Prompter {
  confirmStep(message: string, irreversible: boolean, signal?: AbortSignal): Promise<StepAnswer>;
  onFailure(message: string, canRollback: boolean, signal?: AbortSignal): Promise<FailureAnswer>;
  /** A yes/no question; default no. */
  yesNo(message: string, signal?: AbortSignal): Promise<boolean>;
  /** Lets go of standard input (called when the run ends). */
  close?(): void;
}

interface Choice<T extends string> {
  key: string;
  name: string;
  value: T;
}

const stepChoices = (irreversible: boolean): Choice<StepAnswer>[] => [
  { key: 'g', name: irreversible ? 'go (this cannot be undone)' : 'go', value: 'go' },
  { key: 's', name: 'skip this step', value: 'skip' },
  { key: 'a', name: 'abort the run', value: 'abort' },
];

const failureChoices = (canRollback: boolean): Choice<FailureAnswer>[] =>
  [
    { key: 'r', name: 'retry', value: 'retry' as const },
    { key: 'b', name: 'roll back everything applied so far', value: 'rollback' as const },
    { key: 's', name: 'skip and go on with the next step', value: 'skip' as const },
    { key: 'a', name: 'abort, leaving things as they are', value: 'abort' as const },
  ].filter((c) => canRollback || c.value !== 'rollback');

const yesNoChoices: Choice<'yes' | 'no'>[] = [
  { key: 'y', name: 'yes', value: 'yes' },
  { key: 'n', name: 'no', value: 'no' },
];

/** The Ctrl-C of a question: the Runner turns it into an interruption. */
export class PromptInterrupted extends Error {
  constructor() {
    super('the question was interrupted');
    this.name = 'PromptInterrupted';
  }
}

function prompterOf(
  ask: <T extends string>(message: string, choices: Choice<T>[], signal?: AbortSignal) => Promise<T>,
): Prompter {
  return {
    confirmStep: (message, irreversible, signal) => ask(message, stepChoices(irreversible), signal),
    onFailure: (message, canRollback, signal) => ask(message, failureChoices(canRollback), signal),
    yesNo: async (message, signal) => (await ask(message, yesNoChoices, signal)) === 'yes',
  };
}

/**
 * Questions as plain lines on `output`, answered by lines of `input` (a key such as "g" or a
 * word such as "go"): for scripts and pipes, with no terminal codes. An unknown answer asks
 * again; the end of the input throws NoAnswerError.
 */
export function linePrompter(
  input: NodeJS.ReadableStream = process.stdin,
  output: NodeJS.WritableStream = process.stderr,
): Prompter {
  let rl: Interface | undefined;
  let ended = false;
  const pending: string[] = [];
  const waiters: { resolve: (line: string | undefined) => void }[] = [];
  const start = () => {
    if (rl) return;
    rl = createInterface({ input, terminal: false });
    rl.on('line', (line) => {
      const w = waiters.shift();
      if (w) w.resolve(line);
      else pending.push(line);
    });
    rl.on('close', () => {
      ended = true;
      for (const w of waiters.splice(0)) w.resolve(undefined);
    });
  };
  const nextLine = (signal?: AbortSignal): Promise<string | undefined> => {
    start();
    if (pending.length) return Promise.resolve(pending.shift());
    if (ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (l: string | undefined) => (signal?.removeEventListener('abort', onAbort), resolve(l)),
      };
      const onAbort = () => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new PromptInterrupted());
      };
      if (signal?.aborted) return reject(new PromptInterrupted());
      signal?.addEventListener('abort', onAbort, { once: true });
      waiters.push(waiter);
    });
  };
  const prompter = prompterOf(
    async <T extends string>(message: string, choices: Choice<T>[], signal?: AbortSignal): Promise<T> => {
      const legend = choices.map((c) => `${c.key} = ${c.name}`).join(', ');
      for (;;) {
        output.write(`? ${message} (${legend}) `);
        const line = await nextLine(signal);
        if (line === undefined) {
          output.write('\n');
          throw new NoAnswerError(message);
        }
        const a = line.trim().toLowerCase();
        const found = choices.find((c) => c.key === a || c.value === a || c.name.toLowerCase() === a);
        if (found) return found.value;
        output.write(
          `  "${line.trim()}" is not an answer; answer one of: ${choices.map((c) => c.key).join(', ')}\n`,
        );
      }
    },
  );
  return { ...prompter, close: () => rl?.close() };
}

function isPromptExit(e: unknown): boolean {
  const name = (e as { name?: string } | null)?.name;
  return name === 'ExitPromptError' || name === 'AbortPromptError' || name === 'CancelPromptError';
}

/**
 * Prompts for the operator: the interactive menus of @inquirer/prompts when stdin and stderr
 * are terminals, plain lines otherwise (no terminal codes into a pipe or a log).
 */
export function terminalPrompter(): Prompter {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return linePrompter();
  const output = process.stderr;
  return prompterOf(
    async <T extends string>(message: string, choices: Choice<T>[], signal?: AbortSignal): Promise<T> => {
      const { expand } = await import('@inquirer/prompts');
      try {
        return await expand<T>(
          {
            message,
            choices: choices as unknown as Parameters<typeof expand<T>>[0]['choices'],
            expanded: true,
          },
          { output, signal },
        );
      } catch (e) {
        if (signal?.aborted || (e as { name?: string } | null)?.name === 'AbortPromptError')
          throw new PromptInterrupted();
        // Ctrl-C inside the menu (the terminal is in raw mode, so no SIGINT reaches us).
        if ((e as { name?: string } | null)?.name === 'ExitPromptError') throw new PromptInterrupted();
        if (isPromptExit(e)) throw new NoAnswerError(message);
        throw e;
      }
    },
  );
}

/** Scripted answers for tests; running out of answers behaves like a closed stdin (NoAnswerError). */
export function scriptedPrompter(answers: string[]): Prompter & { asked: string[] } {
  const asked: string[] = [];
  const next = <T extends string>(message: string): T => {
    asked.push(message);
    const a = answers.shift() as T | undefined;
    if (a === undefined) throw new NoAnswerError(message);
    return a;
  };
  return {
    asked,
    confirmStep: async (m) => next(m),
    onFailure: async (m) => next(m),
    yesNo: async (m) => next<string>(m) === 'yes',
  };
}
