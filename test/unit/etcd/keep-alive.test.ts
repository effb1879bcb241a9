import { afterEach, beforeEach, describe, expect, jest, test } from '@jest/globals';
import { keepAlive } from '../../../src/etcd/keep-alive.js';

describe('a lock holder’s heartbeat', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  test('refreshes every third of the TTL', async () => {
    let refreshes = 0;
    const beat = keepAlive(async () => void refreshes++, 3_000);
    await jest.advanceTimersByTimeAsync(999);
    expect(refreshes).toBe(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(refreshes).toBe(1);
    await jest.advanceTimersByTimeAsync(2_000);
    expect(refreshes).toBe(3);
    await beat.stop();
  });

  test('never runs two refreshes at once: a slow one makes the next beats wait', async () => {
    let running = 0;
    let most = 0;
    let started = 0;
    const beat = keepAlive(async () => {
      started++;
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 2_500));
      running--;
    }, 3_000);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(most).toBe(1);
    expect(started).toBeGreaterThan(1);
    expect(started).toBeLessThan(10);
    const stopped = beat.stop();
    await jest.advanceTimersByTimeAsync(3_000);
    await stopped;
    expect(running).toBe(0);
  });

  test('stop waits for the refresh in flight, and no refresh starts after it', async () => {
    const events: string[] = [];
    const beat = keepAlive(async () => {
      events.push('refresh started');
      await new Promise((r) => setTimeout(r, 500));
      events.push('refresh ended');
    }, 3_000);
    await jest.advanceTimersByTimeAsync(1_000);
    const stopped = beat.stop().then(() => events.push('stopped'));
    expect(beat.stopped).toBe(true);
    await jest.advanceTimersByTimeAsync(10_000);
    await stopped;
    expect(events).toEqual(['refresh started', 'refresh ended', 'stopped']);
  });

  test('a refresh that finds the lock gone ends the beat, and the holder can still stop it', async () => {
    let refreshes = 0;
    const beat = keepAlive(async (lost) => {
      refreshes++;
      lost();
    }, 3_000);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(refreshes).toBe(1);
    expect(beat.stopped).toBe(false);
    await beat.stop();
    expect(beat.stopped).toBe(true);
  });

  test('beats at least every 200 ms, whatever the TTL', async () => {
    let refreshes = 0;
    const beat = keepAlive(async () => void refreshes++, 90);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(refreshes).toBe(5);
    await beat.stop();
  });
});
