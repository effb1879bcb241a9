import { CheckError } from './errors.js';

/**
 * Observes until `holds(state)` or the deadline; the last observation is in the error.
 * Polls fast at first (most changes show within milliseconds), then every 500 ms.
 */
export async function observeUntil<S>(
  what: string,
  observe: () => Promise<S>,
  holds: (s: S) => boolean,
  timeoutMs: number,
): Promise<S> {
  const deadline = Date.now() + timeoutMs;
  let delay = 20;
  for (;;) {
    const s = await observe();
    if (holds(s)) return s;
    if (Date.now() >= deadline) {
      throw new CheckError(
        `${what}: still not as expected after ${Math.round(timeoutMs / 1000)}s (now: ${JSON.stringify(s)})`,
      );
    }
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
    delay = Math.min(delay * 2, 500);
  }
}
