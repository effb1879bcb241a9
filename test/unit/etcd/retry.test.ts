import { describe, expect, test } from '@jest/globals';
import { retryUntilDeadline } from '../../../src/etcd/retry.js';

class Refused extends Error {}

function fakeClock() {
  let t = 0;
  return {
    now: () => t,
    sleep: async (ms: number) => void (t += ms),
    get elapsed() {
      return t;
    },
  };
}

describe('retryUntilDeadline', () => {
  test('a refusal that clears up is retried until the operation succeeds', async () => {
    const clock = fakeClock();
    let calls = 0;
    const out = await retryUntilDeadline(
      async () => {
        if (++calls < 4) throw new Refused('500');
        return 'ok';
      },
      { deadlineMs: 10_000, isRetryable: (e) => e instanceof Refused, now: clock.now, sleep: clock.sleep },
    );
    expect(out).toEqual({ value: 'ok', attempts: 4 });
    expect(clock.elapsed).toBe(200 + 400 + 800);
  });

  test('the last error is thrown once the deadline has passed', async () => {
    const clock = fakeClock();
    let calls = 0;
    await expect(
      retryUntilDeadline(
        async () => {
          calls++;
          throw new Refused(`500 #${calls}`);
        },
        { deadlineMs: 3000, isRetryable: () => true, now: clock.now, sleep: clock.sleep },
      ),
    ).rejects.toThrow(/500 #/);
    expect(clock.elapsed).toBe(3000);
    expect(calls).toBeGreaterThan(2);
  });

  test('an error that is not retryable is thrown at once', async () => {
    const clock = fakeClock();
    let calls = 0;
    await expect(
      retryUntilDeadline(
        async () => {
          calls++;
          throw new Error('409 duplicate');
        },
        { deadlineMs: 10_000, isRetryable: (e) => e instanceof Refused, now: clock.now, sleep: clock.sleep },
      ),
    ).rejects.toThrow('409 duplicate');
    expect(calls).toBe(1);
  });
});
