import { afterEach, describe, expect, test } from '@jest/globals';
import { progressReporter } from '../../../src/core/progress.js';
import { pause, setWaitReporter, waitUntil } from '../../../src/util/wait.js';

/** Long waits are shown while they last: a spinner on a terminal, one line per state change otherwise. */
function output() {
  const chunks: string[] = [];
  return { chunks, write: (t: string) => void chunks.push(t), text: () => chunks.join('') };
}

let restore: (() => void) | undefined;
afterEach(() => restore?.());

describe('the progress of long waits', () => {
  test('without a terminal: one line when the wait starts, one per change of state, one at the end', async () => {
    const out = output();
    restore = setWaitReporter(progressReporter({ out, tty: false, quietMs: 0 }));
    let n = 0;
    const states = ['lag 40', 'lag 40', 'lag 40', 'lag 3', 'lag 0'];
    await waitUntil({
      what: 'replication lag under 1',
      probe: async () => states[n++]!,
      until: (s) => s === 'lag 0',
      describe: (s) => s,
      timeoutMs: 5000,
      intervalMs: 1,
      maxIntervalMs: 1,
    });
    const lines = out.text().trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^ {2}… waiting for replication lag under 1 \(deadline \d\d:\d\d:\d\d UTC \(5\.00s\)\): not yet: lag 40$/,
    );
    expect(lines[1]).toMatch(/^ {2}… replication lag under 1: not yet: lag 3 \(\d+ms elapsed\)$/);
    expect(lines[2]).toMatch(/^ {2}✓ replication lag under 1: done after \d+ms$/);
    expect(lines).toHaveLength(3); // "lag 40" three times is one line
  });

  test('a wait that holds at once, or within the quiet time, shows nothing', async () => {
    const out = output();
    restore = setWaitReporter(progressReporter({ out, tty: false }));
    await waitUntil({ what: 'instant', probe: async () => 1, timeoutMs: 1000 });
    let n = 0;
    await waitUntil({
      what: 'quick',
      probe: async () => n++,
      until: (v) => v > 1,
      timeoutMs: 1000,
      intervalMs: 1,
    });
    expect(out.text()).toBe('');
  });

  test('a wait that times out ends with "gave up", and an interrupted one with "interrupted"', async () => {
    const out = output();
    restore = setWaitReporter(progressReporter({ out, tty: false, quietMs: 0 }));
    await expect(
      waitUntil({ what: 'never', probe: async () => false, until: (v) => v, timeoutMs: 30, intervalMs: 5 }),
    ).rejects.toThrow('never: still not as expected');
    expect(out.text()).toMatch(/✗ never: gave up after \d+ms\n$/);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    await expect(pause(10_000, 'the old TTL to pass', ac.signal)).rejects.toThrow('stopped (interrupted)');
    expect(out.text()).toMatch(
      /… waiting for the old TTL to pass \(deadline .* \(10\.0s\)\)\n[\s\S]*■ the old TTL to pass: interrupted after \d+ms\n$/,
    );
  });

  test('on a terminal: a spinner line with what is awaited, elapsed time and deadline, redrawn in place, then one final line', async () => {
    const out = output();
    restore = setWaitReporter(progressReporter({ out, tty: true, quietMs: 0, frameMs: 10 }));
    await pause(120, 'the old TTL of _etcd._tcp.conftool.wmnet (10s) to pass');
    const text = out.text();
    const frames = text.split('\r\x1b[2K').filter(Boolean);
    expect(frames.length).toBeGreaterThanOrEqual(3);
    expect(frames[0]).toMatch(
      /^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] the old TTL of _etcd\._tcp\.conftool\.wmnet \(10s\) to pass: \d+ms elapsed, deadline \d\d:\d\d:\d\d UTC \(120ms\)$/,
    );
    expect(new Set(frames.slice(0, -1).map((f) => f[0])).size).toBeGreaterThan(1); // it spins
    expect(frames.at(-1)).toMatch(/^ {2}✓ the old TTL of .* to pass: done after \d+ms\n$/);
    expect(text.split('\n')).toHaveLength(2); // one line in the end
  });

  test('-v: every attempt is a debug line', async () => {
    const out = output();
    const debug: string[] = [];
    restore = setWaitReporter(progressReporter({ out, tty: false, debug: (l) => void debug.push(l) }));
    let n = 0;
    await waitUntil({
      what: 'three tries',
      probe: async () => n++,
      until: (v) => v === 2,
      timeoutMs: 1000,
      intervalMs: 1,
    });
    expect(debug).toEqual([
      expect.stringMatching(/^wait "three tries" attempt 1 after \d+ms: not yet: 0$/),
      expect.stringMatching(/^wait "three tries" attempt 2 after \d+ms: not yet: 1$/),
    ]);
  });
});
