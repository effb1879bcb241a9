import { formatDuration } from '../util/duration.js';
import type { WaitHandle, WaitReporter } from '../util/wait.js';
import type { Output } from './log.js';
import { redact } from './secrets.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface ProgressOptions {
  out: Output;
  /** A terminal: a spinner redrawn in place; otherwise one plain line per state change. */
  tty: boolean;
  /** Waits shorter than this show nothing on a terminal (default 1 s): a quick verify stays quiet. */
  quietMs?: number;
  /** Spinner redraw period (default 100 ms). */
  frameMs?: number;
  /** Every attempt as a debug line (-v). */
  debug?: (line: string) => void;
  now?: () => number;
}

function clip(s: string, n = 100): string {
  const one = s.replace(/\s+/g, ' ');
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}

/**
 * The Runner's reporter of long waits (TTL waits, checks with a deadline, locks awaited):
 * on a terminal a spinner line with what is awaited, the time elapsed and the deadline,
 * redrawn in place and replaced by one final line; otherwise one plain line when the wait
 * starts, one per change of the awaited state, and one at its end.
 */
export function progressReporter(o: ProgressOptions): WaitReporter {
  const now = o.now ?? Date.now;
  const quietMs = o.quietMs ?? 1000;
  const write = (t: string) => o.out.write(redact(t));
  return {
    begin({ what, timeoutMs, startedAt, known }): WaitHandle {
      const deadline = new Date(startedAt + timeoutMs).toISOString().slice(11, 19);
      const limit = `deadline ${deadline} UTC (${formatDuration(timeoutMs)})`;
      let state = '';
      let attempts = 0;
      let frame = 0;
      let shown = false;
      const elapsed = () => formatDuration(now() - startedAt);
      const line = () =>
        `${FRAMES[frame % FRAMES.length]} ${what}: ${elapsed()} elapsed, ${limit}${state ? ` — ${clip(state, 60)}` : ''}`;
      // Plain output: the first line once the wait has lasted quietMs (at once for a wait of known length).
      const start = () => {
        if (shown || o.tty || (!known && now() - startedAt < quietMs)) return;
        shown = true;
        write(`  … waiting for ${what} (${limit})${state ? `: ${clip(state, 160)}` : ''}\n`);
      };
      let timer: ReturnType<typeof setInterval> | undefined;
      if (o.tty) {
        timer = setInterval(() => {
          if (!known && now() - startedAt < quietMs) return;
          frame++;
          shown = true;
          write(`\r\x1b[2K${line()}`);
        }, o.frameMs ?? 100);
        timer.unref();
      } else if (known) start();
      return {
        update(next) {
          attempts++;
          o.debug?.(`wait "${what}" attempt ${attempts} after ${elapsed()}: ${next}`);
          const changed = next !== state;
          state = next;
          if (o.tty) return;
          if (!shown) start();
          else if (changed) write(`  … ${what}: ${clip(next, 160)} (${elapsed()} elapsed)\n`);
        },
        end(outcome) {
          if (timer) clearInterval(timer);
          if (!shown) return;
          const mark = outcome === 'done' ? '✓' : outcome === 'aborted' ? '■' : '✗';
          const verdict = outcome === 'done' ? 'done' : outcome === 'aborted' ? 'interrupted' : 'gave up';
          write(`${o.tty ? '\r\x1b[2K' : ''}  ${mark} ${what}: ${verdict} after ${elapsed()}\n`);
        },
      };
    },
  };
}
