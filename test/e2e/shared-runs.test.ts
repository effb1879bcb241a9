import { afterAll, describe, expect, test } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeProxyMode } from '../../src/actions/proxy.js';
import { etcdClientFor } from '../../src/etcd/index.js';
import { EtcdRunCopy } from '../../src/etcd/run-store.js';
import { operatorStateDir } from '../../src/lab/operators.js';
import { readPidFile, signal } from '../../src/lab/processes.js';
import { waitUntil } from '../../src/util/wait.js';
import { labEnv } from '../integration/actions/harness.js';
import { labConfig } from '../integration/lab.js';
import { runCli } from '../support/cli.js';
import { A, B, onHost, startOnHost, testLayout } from '../support/operators.js';

/**
 * Runs shared between the lab's two operator hosts through etcd: a run of one is listed and
 * shown on the other; with etcd stopped a run goes on with its local journal and the shared
 * copy catches up afterwards; a switchover started on one host and killed in the read-only
 * window is resumed on the other, to a correct end, with the takeover in its journal and
 * audit log.
 */
const config = labConfig();
const env = labEnv(config);
afterAll(() => env.close());
const layout = testLayout();
const runIdIn = (out: string) => /run (\d{8}-\d{6}-[0-9a-f]{4})/.exec(out)?.[1];
const journalFile = (host: string, runId: string) =>
  join(operatorStateDir(layout, host), 'runs', `${runId}.jsonl`);
const localLines = (host: string, runId: string) =>
  readFileSync(journalFile(host, runId), 'utf8').trim().split('\n');

async function sharedLines(cluster: string, runId: string): Promise<string[] | undefined> {
  const copy = new EtcdRunCopy(cluster, etcdClientFor(config, cluster, { via: 'local' }), config.runs.prefix);
  try {
    return await copy.entries(runId);
  } finally {
    copy.close();
  }
}

const inService = Object.values(config.etcd.clusters)
  .filter((c) => c.inService)
  .map((c) => c.name);

async function modes(dc: string): Promise<string> {
  return [
    ...new Set(await Promise.all(config.etcd.clusters[dc]!.members.map((h) => probeProxyMode(env, dc, h)))),
  ].join(',');
}

describe('runs shared between operator hosts (the lab)', () => {
  test('`cookbook lab operator HOST` runs the CLI as that operator host; an unknown host is refused', () => {
    const r = runCli([
      'lab',
      'operator',
      'cumin2002',
      '--dir',
      layout.dir,
      '--',
      'runs',
      '--json',
      '--limit',
      '1',
    ]);
    expect(r.code).toBe(0);
    expect(Array.isArray(JSON.parse(r.stdout))).toBe(true);
    const bad = runCli(['lab', 'operator', 'cumin9999', '--dir', layout.dir, '--', 'runs']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(
      'no operator host "cumin9999" in the lab; known: cumin1002.eqiad.wmnet, cumin2002.codfw.wmnet',
    );
    expect(operatorStateDir(layout, A)).not.toBe(operatorStateDir(layout, B));
  }, 900_000);

  test("a run's journal is copied, line for line, to every etcd cluster in service", () => {
    const dir = join(operatorStateDir(layout, A), 'files-out');
    const run = onHost(A, ['examples.files', dir, '-y', '-t', 'T358636']);
    expect(run.code).toBe(0);
    const runId = runIdIn(run.stdout)!;
    expect(localLines(A, runId).length).toBeGreaterThan(3);
    return Promise.all(
      inService.map(async (c) => expect(await sharedLines(c, runId)).toEqual(localLines(A, runId))),
    );
  }, 120_000);

  test('a run of one host is listed on the other (host, cookbook and state filters, JSON) and shown there', () => {
    const dir = join(operatorStateDir(layout, A), 'files-out-2');
    const run = onHost(A, ['examples.files', dir, '-y', '-t', 'T358636']);
    expect(run.code).toBe(0);
    const runId = runIdIn(run.stdout)!;

    const listed = onHost(B, ['runs', '--host', A, '--cookbook', 'examples.files', '--state', 'done']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(
      new RegExp(`${runId}  done +live +examples\\.files  root@${A.replace(/\./g, '\\.')}`),
    );
    const json = JSON.parse(onHost(B, ['runs', '--json', '--host', A]).stdout) as {
      runId: string;
      host: string;
      state: string;
      task: string;
    }[];
    expect(json.find((r) => r.runId === runId)).toMatchObject({ host: A, state: 'done', task: 'T358636' });
    expect(onHost(B, ['runs', '--host', B, '--cookbook', 'examples.files', '--json']).stdout).not.toContain(
      runId,
    );
    expect(onHost(B, ['runs', '--state', 'failed', '--json']).stdout).not.toContain(runId);
    expect(onHost(B, ['runs', '--state', 'sleepy']).code).toBe(2);

    const shown = onHost(B, ['runs', runId]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`(journal from etcd (`);
    expect(shown.stdout).toContain(`START examples.files`);
    expect(shown.stdout).toContain(`by root@${A}`);
    expect(shown.stdout).toMatch(/END done \(exit 0\)/);
    expect(existsSync(journalFile(B, runId))).toBe(false); // shown, not copied
  }, 120_000);

  test('with etcd stopped a run goes on with its local journal, says the shared copy is behind, and it catches up afterwards', async () => {
    const pids = Object.values(config.etcd.clusters)
      .filter((c) => c.inService)
      .flatMap((c) =>
        c.members.map((h) => readPidFile(join(layout.hostDir(h), 'run', 'lab-units', `${c.unit}.pid`))),
      )
      .filter((p): p is number => p !== undefined);
    expect(pids.length).toBe(6);
    const dir = join(operatorStateDir(layout, A), 'files-etcd-down');
    let run;
    for (const p of pids) signal(p, 'SIGSTOP'); // every etcd member stopped where it stands
    try {
      // Locks live in etcd too: this run skips them to show the journal does not need etcd.
      run = onHost(A, ['examples.files', dir, '-y', '--no-locks']);
    } finally {
      for (const p of pids) signal(p, 'SIGCONT');
    }
    expect(run.code).toBe(0);
    expect(existsSync(join(dir, 'file3.txt'))).toBe(true);
    const runId = runIdIn(run.stdout)!;
    expect(run.stderr).toMatch(
      new RegExp(`WARNING: the shared copy of run ${runId} in etcd \\(\\w+\\) is behind`),
    );
    expect(run.stderr).toContain('the run goes on with its local journal');
    expect(run.stderr).toMatch(
      /is behind its local journal .*; it catches up from the next `cookbook runs` or run on this host/,
    );
    const local = localLines(A, runId);
    expect(local.at(-1)).toContain('"type":"run-end"');
    // etcd is back: the next `cookbook runs` on that host catches the shared copy up.
    await waitUntil({
      what: 'etcd answers again',
      probe: () => sharedLines(inService[0]!, runId),
      timeoutMs: 30_000,
      intervalMs: 500,
      retryOn: () => true,
    });
    const caught = onHost(A, ['runs', '--limit', '1']);
    expect(caught.code).toBe(0);
    expect(caught.stderr).toContain(
      `the shared copy of run ${runId} caught up in etcd (${local.length} journal entries)`,
    );
    for (const c of inService) expect(await sharedLines(c, runId)).toEqual(local);
    expect(onHost(B, ['runs', runId]).stdout).toMatch(/END done \(exit 0\)/);
  }, 900_000);

  test('a switchover started on one host and killed in the read-only window is resumed on the other to a correct end, with the takeover recorded', async () => {
    const codfwReadOnly = (out: string) =>
      /Make codfw read-only[\s\S]*✓ codfw: make the etcd proxies read-only/.test(out);
    let killed = false;
    const first = await startOnHost(
      A,
      ['etcd.switchover', '--from', 'codfw', '--to', 'eqiad', '-y', '-t', 'T358636'],
      (out, kill) => {
        if (!killed && codfwReadOnly(out)) {
          killed = true;
          kill('SIGKILL'); // the operator host dies: no end record, no release
        }
      },
    );
    expect(killed).toBe(true);
    expect(first.signal).toBe('SIGKILL');
    const runId = runIdIn(first.out)!;
    const ownerPid = JSON.parse(localLines(A, runId)[0]!).pid as number;
    expect(await modes('codfw')).toBe('read-only');

    let finished = false;
    try {
      // Listed on the other host; once A's heartbeat lapsed, as no longer running.
      const listed = await waitUntil({
        what: 'the run listed on B without a heartbeat',
        probe: async () =>
          JSON.parse(onHost(B, ['runs', '--json', '--cookbook', 'etcd.switchover']).stdout) as {
            runId: string;
            state: string;
            host: string;
            alive?: boolean;
          }[],
        until: (runs) => runs.some((r) => r.runId === runId && r.state === 'running-or-crashed'),
        timeoutMs: 60_000,
        intervalMs: 2000,
      });
      expect(listed.find((r) => r.runId === runId)).toMatchObject({ host: A, alive: false });

      const resumed = onHost(B, ['resume', runId, '-y']);
      expect({ code: resumed.code, err: resumed.stderr.slice(-2000) }).toMatchObject({ code: 0 });
      finished = true;
      expect(resumed.stdout).toContain(`⇣ journal of run ${runId} fetched from etcd`);
      expect(resumed.stdout).toContain(
        `⇄ taking run ${runId} over from root@${A} [${ownerPid}]: its heartbeat in etcd lapsed`,
      );
      expect(resumed.stderr).toContain(
        `lock etcd.conftool-master: took it back from root@${A} [${ownerPid}], the earlier attempt of this run`,
      );
      expect(resumed.stdout).toContain('✓ etcd.switchover done');
      expect(await modes('eqiad')).toBe('read-write');
      expect(await modes('codfw')).toBe('read-only');

      const journal = localLines(B, runId).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(journal.find((e) => e.type === 'takeover')).toMatchObject({
        from: `root@${A} [${ownerPid}]`,
        by: expect.stringMatching(new RegExp(`^root@${B.replace(/\./g, '\\.')} \\[\\d+\\]$`)),
      });
      expect(journal.at(-1)).toMatchObject({ type: 'run-end', outcome: 'done', exitCode: 0 });
      const audit = readFileSync(join(operatorStateDir(layout, B), 'audit.log'), 'utf8')
        .split('\n')
        .filter((l) => l.includes(`run=${runId}`));
      expect(audit[0]).toMatch(
        new RegExp(
          ` START .*host="${B.replace(/\./g, '\\.')}".*takeover_from="root@${A.replace(/\./g, '\\.')} \\[${ownerPid}\\]"`,
        ),
      );
      expect(audit.at(-1)).toMatch(/ END .*outcome=done exit=0/);
      // Host A sees the end too.
      expect(onHost(A, ['runs', runId]).stdout).toContain(`TAKEOVER by root@${B}`);
    } finally {
      // Back to the lab's usual direction for the other tests: switched back, or rolled back.
      const back = finished
        ? onHost(B, ['etcd.switchover', '--from', 'eqiad', '--to', 'codfw', '-y'])
        : onHost(B, ['rollback', runId, '-y']);
      expect({ code: back.code, err: back.stderr.slice(-1500) }).toMatchObject({ code: 0 });
    }
    expect(await modes('codfw')).toBe('read-write');
  }, 600_000);
});
