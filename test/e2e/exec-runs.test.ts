import { describe, expect, test } from '@jest/globals';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labConfig, labConfigPath } from '../integration/lab.js';
import { runCli } from '../support/cli.js';

/**
 * `cookbook exec` with a command not marked read-only is a run like a cookbook's: a run id, a
 * journal, the audit START/END (and the announcements); `--read-only` marks a command that
 * only reads: it runs in a dry-run too and is not journaled.
 */
const config = labConfig();
const state = () => mkdtempSync(join(tmpdir(), 'galley-exec-runs-'));
const exec = (args: string[], stateDir: string) =>
  runCli(['exec', ...args], { GALLEY_CONFIG: labConfigPath(), GALLEY_STATE_DIR: stateDir });
const auditLines = (runId: string) =>
  readFileSync(config.auditLog!, 'utf8')
    .split('\n')
    .filter((l) => l.includes(`run=${runId}`));

describe('cookbook exec runs', () => {
  test('a live command gets a run id, a journal and the audit START and END', () => {
    const dir = state();
    const r = exec(['A:conf-codfw', '--', 'touch /tmp/galley-exec-runs-marker'], dir);
    expect(r.code).toBe(0);
    const runId = /run (\d{8}-\d{6}-[0-9a-f]{4}) · journal /.exec(r.stderr)?.[1];
    expect(runId).toBeDefined();
    const journal = readFileSync(join(dir, 'runs', `${runId}.jsonl`), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(journal[0]).toMatchObject({
      type: 'run-start',
      cookbook: 'exec',
      args: { hosts: 'A:conf-codfw', command: 'touch /tmp/galley-exec-runs-marker' },
      dryRun: false,
    });
    expect(journal[1]).toMatchObject({
      type: 'step',
      title: 'touch /tmp/galley-exec-runs-marker on 3 host(s): 3/3 hosts succeeded',
      status: 'done',
    });
    expect(journal[2]).toMatchObject({ type: 'run-end', outcome: 'done', exitCode: 0 });
    const audit = auditLines(runId!);
    expect(audit[0]).toMatch(
      / START run=.* cookbook=exec args="--hosts=A:conf-codfw --command=touch \/tmp\/galley-exec-runs-marker"/,
    );
    expect(audit[1]).toMatch(/ END .*cookbook=exec .*outcome=done exit=0/);
  }, 60_000);

  test('a failed threshold ends the run failed (exit 1); with --json the run id is in the JSON', () => {
    const dir = state();
    const r = exec(['A:conf-codfw', '--json', '--', 'test "$(hostname)" = conf2004.codfw.wmnet'], dir);
    expect(r.code).toBe(1);
    const json = JSON.parse(r.stdout) as { runId: string; journal: string };
    expect(json.journal).toBe(join(dir, 'runs', `${json.runId}.jsonl`));
    expect(readFileSync(json.journal, 'utf8')).toContain('"outcome":"failed","exitCode":1');
    expect(auditLines(json.runId).at(-1)).toMatch(/ END .*outcome=failed exit=1/);
  }, 60_000);

  test('--read-only: no run, no journal, and it also runs in a dry-run', () => {
    const dir = state();
    const r = exec(['A:conf-codfw', '--read-only', '--', 'hostname'], dir);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('journal');
    expect(existsSync(join(dir, 'runs'))).toBe(false);
    const dry = exec(['conf2004.codfw.wmnet', '--read-only', '--dry-run', '--', 'hostname'], dir);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('conf2004.codfw.wmnet');
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  }, 60_000);

  test('a dry-run of a command not marked read-only sends nothing and journals nothing', () => {
    const dir = state();
    const r = exec(['conf2004.codfw.wmnet', '--dry-run', '--', 'touch /tmp/galley-never'], dir);
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, 'runs'))).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  }, 60_000);
});
