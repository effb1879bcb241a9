import { describe, expect, test } from '@jest/globals';
import {
  adaptiveFanout,
  backoffDelayMs,
  connectThroughWindow,
  FanoutWindow,
  HandshakeFailure,
} from '../../../src/ssh/window.js';

/** A handshake the test finishes by hand. */
interface FakeHandshake {
  host: string;
  finish: () => void;
  fail: (e: Error) => void;
}

/** Starts `hosts` through `window`; each handshake waits until the test finishes it. */
function startAll(window: FanoutWindow, hosts: string[]) {
  const started: FakeHandshake[] = [];
  const done = hosts.map((host) =>
    window.run(
      () =>
        new Promise<string>((resolve, reject) => {
          started.push({ host, finish: () => resolve(host), fail: reject });
        }),
    ),
  );
  return { started, done };
}

const tick = () => new Promise((r) => setImmediate(r));
const hosts = Array.from({ length: 10 }, (_, i) => `h${i + 1}`);

describe('the fan-out window', () => {
  test('never more than N handshakes are in flight, and the rest wait in host order', async () => {
    const w = new FanoutWindow(3);
    const { started } = startAll(w, hosts);
    await tick();
    expect(started.map((s) => s.host)).toEqual(['h1', 'h2', 'h3']);
    expect([w.inFlight, w.queued]).toEqual([3, 7]);
  });

  test('a new handshake starts as soon as one ends, not when the whole group has ended', async () => {
    const w = new FanoutWindow(3);
    const { started, done } = startAll(w, hosts);
    await tick();
    started[1]!.finish(); // h2 ends; h1 and h3 are still in flight
    await tick();
    expect(started.map((s) => s.host)).toEqual(['h1', 'h2', 'h3', 'h4']);
    expect(w.inFlight).toBe(3);
    // Finish every handshake in turn as it starts: the window stays full until the queue is empty.
    for (let i = 0; i < started.length; i++) {
      if (i !== 1) started[i]!.finish();
      await tick();
      expect(w.inFlight).toBeLessThanOrEqual(3);
    }
    expect(await Promise.all(done)).toEqual(hosts);
    expect([w.peak, w.inFlight, w.queued]).toEqual([3, 0, 0]);
  });

  test('a failed handshake frees its slot too', async () => {
    const w = new FanoutWindow(1);
    const { started, done } = startAll(w, ['a', 'b']);
    await tick();
    started[0]!.fail(new Error('refused'));
    await expect(done[0]).rejects.toThrow('refused');
    await tick();
    expect(started.map((s) => s.host)).toEqual(['a', 'b']);
    started[1]!.finish();
    await expect(done[1]).resolves.toBe('b');
  });

  test('a fan-out that is not a whole number from 1 is refused', () => {
    expect(() => new FanoutWindow(0)).toThrow('fan-out window must be a whole number from 1 up, not 0');
    expect(() => new FanoutWindow(2.5)).toThrow('not 2.5');
  });
});

describe('the adaptive window', () => {
  /** Runs `count` handshakes one after another, each taking `ms` on a fake clock. */
  async function handshakes(w: FanoutWindow, clock: { t: number }, count: number, ms: number) {
    for (let i = 0; i < count; i++) {
      await w.run(async () => {
        clock.t += ms;
      });
    }
  }

  test('it grows while handshakes are quicker than the target, up to its maximum', async () => {
    const clock = { t: 0 };
    const w = new FanoutWindow({ start: 16, min: 4, max: 64, targetMs: 1000 }, { now: () => clock.t });
    await handshakes(w, clock, 40, 100);
    expect(w.limit).toBe(64);
  });

  test('it shrinks when handshakes are slower than the target, down to its minimum', async () => {
    const clock = { t: 0 };
    const w = new FanoutWindow({ start: 16, min: 4, max: 64, targetMs: 1000 }, { now: () => clock.t });
    await handshakes(w, clock, 3, 2500);
    const shrunk = w.limit;
    expect(shrunk).toBeLessThan(16);
    await handshakes(w, clock, 40, 2500);
    expect(w.limit).toBe(4);
  });

  test('a quick refusal does not count: it says nothing about how loaded the servers are', async () => {
    const clock = { t: 0 };
    const w = new FanoutWindow({ start: 16, min: 4, max: 64, targetMs: 1000 }, { now: () => clock.t });
    for (let i = 0; i < 20; i++) {
      await w
        .run(async () => {
          clock.t += 1;
          throw new HandshakeFailure('connection refused', true);
        })
        .catch(() => undefined);
    }
    expect(w.limit).toBe(16);
  });

  test('the default starts at 16, between 4 and 256, aiming at a quarter of the connect timeout', () => {
    expect(adaptiveFanout(5000)).toEqual({ start: 16, min: 4, max: 256, targetMs: 1250 });
  });
});

describe('connecting through the window', () => {
  test('a refused handshake is retried with exponential backoff, then reported with its attempts', async () => {
    const slept: number[] = [];
    let attempts = 0;
    const w = new FanoutWindow(2);
    const failure = await connectThroughWindow(
      w,
      async () => {
        attempts++;
        throw new HandshakeFailure('connection refused opening the TCP connection', true);
      },
      { retries: 3, backoffMs: 200, random: () => 0.5, sleep: async (ms) => void slept.push(ms) },
    ).catch((e: Error) => e);
    expect(attempts).toBe(4);
    expect(slept).toEqual([200, 400, 800]);
    expect((failure as Error).message).toMatch(
      /^connection refused opening the TCP connection \(4 attempts over \d+\.\ds\)$/,
    );
  });

  test('a handshake refused at first succeeds once the server answers', async () => {
    let attempts = 0;
    const result = await connectThroughWindow(
      new FanoutWindow(1),
      async () => {
        if (++attempts < 3) throw new HandshakeFailure('connection reset during the key exchange', true);
        return 'ready';
      },
      { retries: 3, backoffMs: 1, sleep: async () => undefined },
    );
    expect([result, attempts]).toEqual(['ready', 3]);
  });

  test('a failure that is not retriable (a timeout, a refused key) is reported at once', async () => {
    let attempts = 0;
    await expect(
      connectThroughWindow(
        new FanoutWindow(1),
        async () => {
          attempts++;
          throw new HandshakeFailure("timed out after 5s waiting for the SSH server's greeting", false);
        },
        { retries: 3, backoffMs: 1, sleep: async () => undefined },
      ),
    ).rejects.toThrow("timed out after 5s waiting for the SSH server's greeting");
    expect(attempts).toBe(1);
  });

  test('a host waiting out its backoff gives its slot to the next host', async () => {
    const w = new FanoutWindow(1);
    const order: string[] = [];
    let releaseSleep: () => void = () => undefined;
    const sleeping = new Promise<void>((r) => (releaseSleep = r));
    let aTries = 0;
    const a = connectThroughWindow(
      w,
      async () => {
        order.push(`a${++aTries}`);
        if (aTries === 1) throw new HandshakeFailure('connection refused', true);
        return 'a';
      },
      { retries: 1, backoffMs: 1, sleep: () => sleeping },
    );
    const b = connectThroughWindow(w, async () => {
      order.push('b');
      releaseSleep();
      return 'b';
    });
    expect(await Promise.all([a, b])).toEqual(['a', 'b']);
    expect(order).toEqual(['a1', 'b', 'a2']);
  });

  test('the backoff doubles with each retry, within ±25%', () => {
    const p = { retries: 3, backoffMs: 200 };
    expect([0, 1, 2].map((i) => backoffDelayMs({ ...p, random: () => 0 }, i))).toEqual([150, 300, 600]);
    expect([0, 1, 2].map((i) => backoffDelayMs({ ...p, random: () => 1 }, i))).toEqual([250, 500, 1000]);
  });
});
