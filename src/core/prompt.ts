/** The operator's answers to the Runner's questions. */
export type StepAnswer = 'go' | 'skip' | 'abort';
export type FailureAnswer = 'retry' | 'rollback' | 'skip' | 'abort';

/**
 * How the Runner asks. The terminal implementation uses @inquirer/prompts; tests inject
 * scripted answers. A prompt that cannot be answered (closed stdin) resolves to "abort"
 * (or "no"): it never counts as "yes".
 */
export interface Prompter {
  confirmStep(message: string, irreversible: boolean): Promise<StepAnswer>;
  onFailure(message: string, canRollback: boolean): Promise<FailureAnswer>;
  /** A yes/no question; default no. */
  yesNo(message: string): Promise<boolean>;
}

function isPromptExit(e: unknown): boolean {
  const name = (e as { name?: string } | null)?.name;
  return name === 'ExitPromptError' || name === 'AbortPromptError' || name === 'CancelPromptError';
}

/** Prompts on the terminal (stdin/stderr); a closed stdin answers "abort"/"no". */
export function terminalPrompter(): Prompter {
  const output = process.stderr;
  const ask = async <T extends string>(
    message: string,
    choices: { key: string; name: string; value: T }[],
    closed: T,
  ): Promise<T> => {
    const { expand } = await import('@inquirer/prompts');
    try {
      return await expand<T>(
        {
          message,
          choices: choices as unknown as Parameters<typeof expand<T>>[0]['choices'],
          expanded: true,
        },
        { output },
      );
    } catch (e) {
      if (isPromptExit(e)) {
        output.write(
          '\n(no answer: standard input is closed or the prompt was cancelled; taking that as "no")\n',
        );
        return closed;
      }
      throw e;
    }
  };
  return {
    confirmStep(message, irreversible) {
      return ask<StepAnswer>(
        message,
        [
          { key: 'g', name: irreversible ? 'go (this cannot be undone)' : 'go', value: 'go' },
          { key: 's', name: 'skip this step', value: 'skip' },
          { key: 'a', name: 'abort the run', value: 'abort' },
        ],
        'abort',
      );
    },
    onFailure(message, canRollback) {
      const choices: { key: string; name: string; value: FailureAnswer }[] = [
        { key: 'r', name: 'retry', value: 'retry' },
        { key: 'b', name: 'roll back everything applied so far', value: 'rollback' },
        { key: 's', name: 'skip and go on with the next step', value: 'skip' },
        { key: 'a', name: 'abort, leaving things as they are', value: 'abort' },
      ];
      return ask<FailureAnswer>(
        message,
        canRollback ? choices : choices.filter((c) => c.value !== 'rollback'),
        'abort',
      );
    },
    async yesNo(message) {
      const a = await ask<'yes' | 'no'>(
        message,
        [
          { key: 'y', name: 'yes', value: 'yes' },
          { key: 'n', name: 'no', value: 'no' },
        ],
        'no',
      );
      return a === 'yes';
    },
  };
}

/** Scripted answers for tests; running out of answers behaves like a closed stdin. */
export function scriptedPrompter(answers: string[]): Prompter & { asked: string[] } {
  const asked: string[] = [];
  const next = <T extends string>(message: string, closed: T): T => {
    asked.push(message);
    return (answers.shift() as T | undefined) ?? closed;
  };
  return {
    asked,
    confirmStep: async (m) => next(m, 'abort'),
    onFailure: async (m) => next(m, 'abort'),
    yesNo: async (m) => next<string>(m, 'no') === 'yes',
  };
}
