import type { SafeState } from './cookbook.js';
import { formatError } from './errors.js';
import type { RunSession } from './session.js';

export interface SafeStateVerdict {
  holds: boolean;
  problem?: string;
}

/**
 * Checks a cookbook's safe state at the end of a run. When it does not hold, one screen
 * says so first and loudly: what does not hold, and what restores it.
 */
export async function checkSafeState(
  safe: SafeState,
  session: RunSession,
  changedSomething: boolean,
): Promise<SafeStateVerdict> {
  session.say(`  checking the safe state: ${safe.title}…`);
  try {
    const msg = await safe.check();
    session.say(`  ✓ safe state holds${msg ? `: ${msg}` : ''}`);
    return { holds: true };
  } catch (e) {
    const problem = formatError(e);
    let restore: string[] = [];
    try {
      restore = (await safe.restore?.(problem)) ?? [];
    } catch (err) {
      restore = [`(could not work out how to restore it: ${formatError(err)})`];
    }
    const bar = '!'.repeat(78);
    const lines = [
      bar,
      `!! UNSAFE STATE: "${safe.title}" does NOT hold`,
      ...problem.split('\n').map((l) => `!!   ${l}`),
      ...(changedSomething ? [] : ['!!   (this run changed nothing: the world was already like this)']),
      ...(restore.length ? ['!! To restore it:', ...restore.map((r) => `!!   - ${r}`)] : []),
      `!! The journal of run ${session.runId} has every change and the state before it (\`cookbook runs ${session.runId}\`).`,
      bar,
    ];
    for (const l of lines) session.fail(l);
    return { holds: false, problem };
  }
}
