import { describe, expect, test } from '@jest/globals';
import { parseConfig, type GalleyConfig } from '../../../src/config/schema.js';
import { ConfigError } from '../../../src/core/errors.js';
import { parseExecArgv, runAdHoc, type AdHocRequest } from '../../../src/cli/exec.js';
import { EXEC_FLAGS } from '../../../src/cli/exec-flags.js';
import { RemoteExecutor } from '../../../src/ssh/executor.js';
import { resolveHostSet } from '../../../src/ssh/hostset.js';
import type { Remote } from '../../../src/ssh/remote.js';
import type { SshPool } from '../../../src/ssh/pool.js';
import { groupResults } from '../../../src/ssh/report.js';
import { FakeTransport } from '../ssh/fake-transport.js';

const raw = {
  datacenters: ['lab'],
  hosts: Object.fromEntries(
    Array.from({ length: 5 }, (_, i) => [
      `bench00${i + 1}.lab.wmnet`,
      { address: `127.30.9.${i + 1}`, datacenter: 'lab' },
    ]),
  ),
  aliases: { bench: 'bench[001-005].lab.wmnet' },
  ssh: { key_file: '/k', known_hosts: '/kh' },
  etcd: { clusters: {} },
};
const parsed = parseConfig(raw, '/tmp/test.yaml');
if (!parsed.config) throw new Error(parsed.problems.join('\n'));
const config: GalleyConfig = parsed.config;

function harness(answer: ConstructorParameters<typeof FakeTransport>[0], stderrIsTty = false) {
  const transport = new FakeTransport(answer);
  const out: string[] = [];
  const err: string[] = [];
  const opened: { dryRun: boolean; fanout?: number }[] = [];
  const io = {
    stdout: (t: string) => out.push(t),
    stderr: (t: string) => err.push(t),
    stderrIsTty,
    loadConfig: (path: string) => {
      if (path !== '/tmp/test.yaml') throw new ConfigError(`cannot read config ${path}: no such file`);
      return config;
    },
    openRemote: (c: GalleyConfig, o: { dryRun: boolean; fanout?: number }): Remote => {
      opened.push(o);
      const executor = new RemoteExecutor(transport, {
        dryRun: o.dryRun,
        defaultTimeoutMs: 1000,
        sleep: async () => undefined,
      });
      return {
        hosts: (e) => resolveHostSet(e, c),
        executor,
        pool: undefined as unknown as SshPool,
        close: () => executor.close(),
      };
    },
  };
  const run = (r: Partial<AdHocRequest>) =>
    runAdHoc(
      { hosts: 'A:bench', command: ['true'], configPath: '/tmp/test.yaml', json: false, dryRun: false, ...r },
      io,
    );
  return { transport, out, err, run, opened };
}

describe('cookbook exec', () => {
  test('the summary groups hosts by identical output and ends with the success ratio', async () => {
    const h = harness((host) =>
      host.endsWith('5.lab.wmnet') ? { stdout: 'other\n', exitCode: 1 } : { stdout: 'same\n' },
    );
    const code = await h.run({ command: ['uname'], successThreshold: '80%' });
    expect(code).toBe(0);
    expect(h.out.join('')).toBe(
      [
        '===== NODE GROUP: exit code 0 =====',
        '(4) bench[001-004].lab.wmnet',
        '----- OUTPUT -----',
        'same',
        '===== NODE GROUP: exit code 1 =====',
        '(1) bench005.lab.wmnet',
        '----- OUTPUT -----',
        'other',
        '================',
        'PASS: 80.0% (4/5) success ratio (>= 80.0% threshold) for command: uname (slowest host 1ms)',
        '',
      ].join('\n'),
    );
    expect(h.transport.closed).toBe(true);
  });

  test('the exit code is 1 when the threshold is not met', async () => {
    const h = harness((host) => (host.endsWith('1.lab.wmnet') ? { exitCode: 1 } : {}));
    expect(await h.run({})).toBe(1);
    expect(h.out.join('')).toContain('FAIL: 80.0% (4/5)');
  });

  test('--json prints every host, with the hosts not run', async () => {
    const h = harness(() => ({ exitCode: 1 }));
    expect(await h.run({ json: true, batchSize: '2' })).toBe(1);
    const json = JSON.parse(h.out.join('')) as {
      results: { host: string; notRun?: boolean; exitCode?: number }[];
      thresholdMet: boolean;
    };
    expect(json.thresholdMet).toBe(false);
    expect(json.results.map((r) => [r.host, r.notRun ?? false])).toEqual([
      ['bench001.lab.wmnet', false],
      ['bench002.lab.wmnet', false],
      ['bench003.lab.wmnet', true],
      ['bench004.lab.wmnet', true],
      ['bench005.lab.wmnet', true],
    ]);
  });

  test('several command words are quoted one by one', async () => {
    const h = harness(() => ({}));
    await h.run({ hosts: 'bench001.lab.wmnet', command: ['touch', '/tmp/a; reboot'] });
    expect(h.transport.sent.map((s) => s.command)).toEqual(["'touch' '/tmp/a; reboot'"]);
  });

  test('in dry-run the ad-hoc command is shown and never sent', async () => {
    const h = harness(() => ({}));
    expect(await h.run({ dryRun: true, command: ['reboot'] })).toBe(0);
    expect(h.transport.sent).toEqual([]);
    expect(h.out.join('')).toBe('DRY-RUN: would run on (5) bench[001-005].lab.wmnet: reboot\n');
  });

  test('progress goes to stderr when asked', async () => {
    const h = harness(() => ({}));
    await h.run({ progress: true });
    expect(h.err.join('')).toContain('5/5 hosts done\n');
    const quiet = harness(() => ({}));
    await quiet.run({});
    expect(quiet.err).toEqual([]);
  });

  test.each([
    [{ hosts: 'bench00[1-9].lab.wmnet' }, 'unknown host "bench006.lab.wmnet"'],
    [{ hosts: 'bench[5-1]' }, 'the end is before the start'],
    [{ configPath: '/nope.yaml' }, 'cannot read config /nope.yaml'],
    [{ batchSize: '0' }, 'invalid batch size'],
    [{ batchSleep: 'soon' }, '--batch-sleep: invalid duration'],
    [{ successThreshold: '2' }, 'invalid success threshold'],
    [{ timeout: '0s' }, '--timeout must be more than 0'],
    [{ command: [] }, 'no command given'],
  ])('bad input %p is one line on stderr and exit code 2, with nothing sent', async (request, fragment) => {
    const h = harness(() => ({}));
    expect(await h.run(request)).toBe(2);
    expect(h.err).toHaveLength(1);
    expect(h.err[0]).toContain(fragment);
    expect(h.err[0]?.trimEnd()).not.toContain('\n');
    expect(h.transport.sent).toEqual([]);
  });
});

describe('grouping results', () => {
  test('connection errors group apart from exit codes', () => {
    const base = { command: 'c', stdout: '', stderr: '', durationMs: 1 };
    const groups = groupResults([
      { ...base, host: 'a', exitCode: 0 },
      { ...base, host: 'b', exitCode: null, error: 'refused' },
      { ...base, host: 'c', exitCode: 0 },
    ]);
    expect(groups.map((g) => [g.outcome, g.hosts])).toEqual([
      ['exit code 0', ['a', 'c']],
      ['error: refused', ['b']],
    ]);
  });
});

describe('the exec entry without oclif', () => {
  test('the oclif command declares exactly the flags of the one table, with the same letters', async () => {
    const { default: Exec } = await import('../../../src/commands/exec.js');
    expect(Object.keys(Exec.flags).sort()).toEqual(Object.keys(EXEC_FLAGS).sort());
    for (const [name, flag] of Object.entries(Exec.flags)) {
      const spec = (EXEC_FLAGS as Record<string, { char?: string }>)[name];
      expect([name, (flag as { char?: string }).char]).toEqual([name, spec?.char]);
    }
  });

  test('it splits hosts, flags and the command at --', () => {
    expect(
      parseExecArgv(['A:bench', '-b', '10%', '--json', '--no-progress', '--', 'echo', '--json'], {
        GALLEY_CONFIG: '/etc/g.yaml',
      }),
    ).toEqual({
      hosts: 'A:bench',
      command: ['echo', '--json'],
      configPath: '/etc/g.yaml',
      batchSize: '10%',
      batchSleep: undefined,
      successThreshold: undefined,
      timeout: undefined,
      fanout: undefined,
      json: true,
      dryRun: false,
      progress: false,
    });
    expect(() => parseExecArgv(['A:bench', '--bogus', '--', 'true'])).toThrow("Unknown option '--bogus'");
  });

  test('--fanout and -f reach the request, and a bad fan-out is a usage error naming it', async () => {
    expect(parseExecArgv(['A:bench', '-f', '8', '--', 'true'], {}).fanout).toBe('8');
    const h = harness(() => ({}));
    expect(await h.run({ fanout: '0' })).toBe(2);
    expect(h.err.join('')).toBe(
      'cookbook exec: invalid fan-out "0": give a whole number of hosts from 1 to 10000 (64)\n',
    );
    expect(h.transport.sent).toEqual([]);
    const ok = harness(() => ({}));
    expect(await ok.run({ fanout: '8' })).toBe(0);
    expect(ok.opened).toEqual([{ dryRun: false, fanout: 8 }]);
  });
});

describe('progress of cookbook exec', () => {
  test('a run stopped by the threshold ends its progress where it stopped', async () => {
    const h = harness(() => ({ exitCode: 1 }));
    await h.run({ progress: true, batchSize: '2' });
    expect(h.err.join('').trimEnd().split('\n').pop()).toBe('2/5 hosts done');
  });

  test('on a terminal progress is rewritten in place', async () => {
    const h = harness(() => ({}), true);
    await h.run({});
    expect(h.err.join('')).toBe(
      '\r1/5 hosts done\r2/5 hosts done\r3/5 hosts done\r4/5 hosts done\r5/5 hosts done\n',
    );
  });
});
