import { describe, expect, test } from '@jest/globals';
import { UsageError } from '../../../src/core/errors.js';
import {
  canStillMeetThreshold,
  hostsPerBatch,
  parseBatchSize,
  parseSuccessThreshold,
  requiredSuccesses,
  splitBatches,
} from '../../../src/ssh/batch.js';
import { cmd, safeCmd } from '../../../src/ssh/command.js';
import { RemoteExecutor, type ExecutionProgress } from '../../../src/ssh/executor.js';
import { FakeTransport } from './fake-transport.js';

const hosts = Array.from({ length: 10 }, (_, i) => `h${i + 1}`);

function executor(transport: FakeTransport, dryRun = false, sleeps: number[] = []) {
  return new RemoteExecutor(transport, {
    dryRun,
    defaultTimeoutMs: 60_000,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
}

describe('batch sizes and thresholds', () => {
  test('a batch size is a count or a percentage', () => {
    expect(parseBatchSize('5')).toEqual({ count: 5 });
    expect(parseBatchSize('20%')).toEqual({ percent: 20 });
  });

  test.each(['0', '-1', '1.5', '150%', 'ten', ''])('the batch size %p is refused', (raw) => {
    expect(() => parseBatchSize(raw)).toThrow(UsageError);
  });

  test('a percentage rounds up and a batch holds at least one host', () => {
    expect(hostsPerBatch(50, { percent: 10 })).toBe(5);
    expect(hostsPerBatch(7, { percent: 10 })).toBe(1);
    expect(hostsPerBatch(7, { percent: 50 })).toBe(4);
    expect(hostsPerBatch(3, { count: 10 })).toBe(3);
    expect(hostsPerBatch(3, undefined)).toBe(3);
  });

  test('hosts are split into batches in order', () => {
    expect(splitBatches(['a', 'b', 'c', 'd', 'e'], { count: 2 })).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
  });

  test('a threshold is a fraction or a percentage between 0 and 1', () => {
    expect(parseSuccessThreshold('0.9')).toBe(0.9);
    expect(parseSuccessThreshold('95%')).toBe(0.95);
    expect(() => parseSuccessThreshold('1.5')).toThrow(UsageError);
    expect(() => parseSuccessThreshold('most')).toThrow(UsageError);
  });

  test('the required successes round up, without floating point surprises', () => {
    expect(requiredSuccesses(10, 0.9)).toBe(9);
    expect(requiredSuccesses(10, 0.91)).toBe(10);
    expect(requiredSuccesses(3, 0.5)).toBe(2);
    expect(canStillMeetThreshold(5, 3, 10, 0.8)).toBe(true);
    expect(canStillMeetThreshold(4, 3, 10, 0.8)).toBe(false);
  });
});

describe('running a command on a host set', () => {
  test('every host gets the same quoted command and a result of its own', async () => {
    const t = new FakeTransport((host) => ({ stdout: `${host}\n` }));
    const report = await executor(t).execute(hosts.slice(0, 3), cmd`echo ${'a; b'}`);
    expect(t.sent.map((s) => [s.host, s.command])).toEqual([
      ['h1', "echo 'a; b'"],
      ['h2', "echo 'a; b'"],
      ['h3', "echo 'a; b'"],
    ]);
    expect(report.results.map((r) => r.stdout)).toEqual(['h1\n', 'h2\n', 'h3\n']);
    expect(report).toMatchObject({ successes: 3, thresholdMet: true, notRun: [], dryRun: false });
  });

  test('batches run one after the other with the sleep between them, not after the last', async () => {
    const sleeps: number[] = [];
    const order: string[] = [];
    const t = new FakeTransport((host) => {
      order.push(host);
      return {};
    });
    await executor(t, false, sleeps).execute(hosts.slice(0, 5), cmd`true`, {
      batchSize: { count: 2 },
      batchSleepMs: 10_000,
    });
    expect(order).toEqual(['h1', 'h2', 'h3', 'h4', 'h5']);
    expect(sleeps).toEqual([10_000, 10_000]);
  });

  test('batches stop as soon as the threshold can no longer be met, and the rest are reported as not run', async () => {
    const t = new FakeTransport((host) => (['h1', 'h2', 'h3'].includes(host) ? { exitCode: 1 } : {}));
    const report = await executor(t).execute(hosts, cmd`true`, {
      batchSize: { count: 2 },
      successThreshold: 0.8,
    });
    // After the second batch: 1 success, 6 left: at most 7 of 10 < 8 required.
    expect(t.sent.map((s) => s.host)).toEqual(['h1', 'h2', 'h3', 'h4']);
    expect(report.notRun).toEqual(['h5', 'h6', 'h7', 'h8', 'h9', 'h10']);
    expect(report.thresholdMet).toBe(false);
  });

  test('failures within the threshold still meet it', async () => {
    const t = new FakeTransport((host) =>
      host === 'h1' ? { exitCode: null, error: 'connection refused' } : {},
    );
    const report = await executor(t).execute(hosts, cmd`true`, {
      batchSize: { percent: 50 },
      successThreshold: 0.9,
    });
    expect(report).toMatchObject({ successes: 9, thresholdMet: true, notRun: [] });
  });

  test('one failure misses the default threshold of 100%', async () => {
    const t = new FakeTransport((host) => (host === 'h2' ? { exitCode: 3 } : {}));
    expect((await executor(t).execute(hosts, cmd`true`)).thresholdMet).toBe(false);
  });

  test('progress is reported after each host', async () => {
    const seen: ExecutionProgress[] = [];
    await executor(new FakeTransport()).execute(hosts.slice(0, 3), cmd`true`, {
      onProgress: (p) => seen.push(p),
    });
    expect(seen.map((p) => `${p.done}/${p.total}`)).toEqual(['1/3', '2/3', '3/3']);
  });

  test('stdin and the timeout are handed to the transport', async () => {
    const t = new FakeTransport();
    await executor(t).execute(['h1'], cmd`cat`, { stdin: 'data\n', timeoutMs: 1234 });
    await executor(t).execute(['h1'], cmd`cat`);
    expect(t.sent.map((s) => [s.stdin, s.timeoutMs])).toEqual([
      ['data\n', 1234],
      [undefined, 60_000],
    ]);
  });
});

describe('dry-run', () => {
  test('dry-run sends nothing unsafe and reports what would run on each host', async () => {
    const t = new FakeTransport();
    const report = await executor(t, true).execute(hosts.slice(0, 2), cmd`systemctl restart ${'etcd'}`);
    expect(t.sent).toEqual([]);
    expect(report.dryRun).toBe(true);
    expect(report.results.map((r) => [r.host, r.command, r.wouldRun, r.exitCode])).toEqual([
      ['h1', "systemctl restart 'etcd'", true, null],
      ['h2', "systemctl restart 'etcd'", true, null],
    ]);
  });

  test('dry-run still runs safe (read-only) commands', async () => {
    const t = new FakeTransport(() => ({ stdout: 'active\n' }));
    const report = await executor(t, true).execute(['h1'], safeCmd`systemctl is-active ${'etcd'}`);
    expect(t.sent.map((s) => s.command)).toEqual(["systemctl is-active 'etcd'"]);
    expect(report.results[0]?.stdout).toBe('active\n');
  });

  test('the single-host runner quotes argv and honours dry-run for unsafe commands', async () => {
    const t = new FakeTransport();
    const ex = executor(t, true);
    const unsafe = await ex.run('h1', ['rm', '-f', '/tmp/a b']);
    const safe = await ex.run('h1', ['cat', '/etc/hostname'], { isSafe: true });
    expect(unsafe.wouldRun).toBe(true);
    expect(safe.wouldRun).toBeUndefined();
    expect(t.sent.map((s) => s.command)).toEqual(["'cat' '/etc/hostname'"]);
  });

  test('closing the executor closes the transport', async () => {
    const t = new FakeTransport();
    await executor(t).close();
    expect(t.closed).toBe(true);
  });
});

describe('parallelism', () => {
  test('at most maxParallel hosts are in flight at once, and results keep host order', async () => {
    let inFlight = 0;
    let peak = 0;
    const transport = new FakeTransport();
    const slow = {
      exec: async (host: string, command: string, options: { stdin?: string; timeoutMs: number }) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight--;
        return transport.exec(host, command, options);
      },
      close: () => transport.close(),
    };
    const ex = new RemoteExecutor(slow, { dryRun: false, defaultTimeoutMs: 1000, maxParallel: 3 });
    const report = await ex.execute(hosts, cmd`true`);
    expect(peak).toBe(3);
    expect(report.results.map((r) => r.host)).toEqual(hosts);
  });

  test('by default every host of a batch is in flight at once', async () => {
    let inFlight = 0;
    let peak = 0;
    const transport = new FakeTransport();
    const slow = {
      exec: async (host: string, command: string, options: { stdin?: string; timeoutMs: number }) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight--;
        return transport.exec(host, command, options);
      },
      close: () => transport.close(),
    };
    await new RemoteExecutor(slow, { dryRun: false, defaultTimeoutMs: 1000 }).execute(hosts, cmd`true`);
    expect(peak).toBe(10);
  });
});
