import type { Prompter } from '../core/prompt.js';

/**
 * Wraps a Prompter so that a question left unanswered for `afterMs` is announced once
 * ("waiting for input"), the way spicerack pings the operator on IRC. The answer itself is
 * untouched.
 */
export function waitingPrompter(inner: Prompter, afterMs: number, onWaiting: (question: string, waitedMs: number) => void): Prompter {
  const watch = async <T>(question: string, ask: () => Promise<T>): Promise<T> => {
    const timer = setTimeout(() => onWaiting(question, afterMs), afterMs);
    try {
      return await ask();
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    confirmStep: (message, irreversible) => watch(message, () => inner.confirmStep(message, irreversible)),
    onFailure: (message, canRollback) => watch(message, () => inner.onFailure(message, canRollback)),
    yesNo: (message) => watch(message, () => inner.yesNo(message)),
  };
}
