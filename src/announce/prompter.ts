import type { Prompter } from '../core/prompt.js';

/**
 * Wraps a Prompter so that a question left unanswered for `afterMs` is announced once
 * ("waiting for input"), the way spicerack pings the operator on IRC. The answer itself is
 * untouched.
 */
export function waitingPrompter(
  inner: Prompter,
  afterMs: number,
  onWaiting: (question: string, waitedMs: number) => void,
): Prompter {
  const watch = async <T>(question: string, ask: () => Promise<T>): Promise<T> => {
    const timer = setTimeout(() => onWaiting(question, afterMs), afterMs);
    try {
      return await ask();
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    confirmStep: (message, irreversible, signal) =>
      watch(message, () => inner.confirmStep(message, irreversible, signal)),
    onFailure: (message, canRollback, signal) =>
      watch(message, () => inner.onFailure(message, canRollback, signal)),
    yesNo: (message, signal) => watch(message, () => inner.yesNo(message, signal)),
    close: () => inner.close?.(),
  };
}
