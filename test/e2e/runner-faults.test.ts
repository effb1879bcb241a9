import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeProxyMode, setProxyMode } from '../../src/actions/proxy.js';
import { labEnv } from '../integration/actions/harness.js';
import { labConfig, labConfigPath } from '../integration/lab.js';
import { runCli, watchCli } from '../support/cli.js';
import { waitUntil } from '../../src/util/wait.js';

/**
 * The Runner's contract under faults, on the real lab, through the real CLI: a closed stdin,
 * SIGTERM, a hand change inside the read-only window, bad run ids, private journals, and a
 * dry-run plan that shows every change the live run makes.
 */
const config = labConfig();
const env = labEnv(config);
afterAll(() => env.close());
const state = () => mkdtempSync(join(tmpdir(), 'galley-faults-'));
const cli = (args: string[], stateDir = state()) =>
  runCli(args, { GALLEY_CONFIG: labConfigPath(), GALLEY_STATE_DIR: stateDir });

async function modes(dc: 'eqiad' | 'codfw'): Promise<string> {
  return [
    ...new Set(await Promise.all(config.etcd.clusters[dc]!.members.map((h) => probeProxyMode(env, dc, h)))),
  ].join(',');
}

/** Starts a switchover codfw → eqiad with --yes; `onOutput` may send signals. */
async function switchover(
  stateDir: string,
  extra: string[],
  onOutput: (out: string, kill: (s: NodeJS.Signals) => void) => void,
) {
  const r = await watchCli(['etcd.switchover', '--from', 'codfw', '--to', 'eqiad', '-y', ...extra], {
    env: { GALLEY_CONFIG: labConfigPath(), GALLEY_STATE_DIR: stateDir },
    onOutput,
  }).done;
  return { code: r.code, out: r.stdout, err: r.stderr };
}

/** True once the step that makes codfw read-only has been verified. */
const codfwReadOnly = (out: string) =>
  /Make codfw read-only[\s\S]*✓ codfw: make the etcd proxies read-only/.test(out);

describe('the Runner under faults, on the lab', () => {
  test('a switchover with a closed stdin and no --yes ends at once (exit 1) and leaves no lock: a second run is not refused by it', () => {
    const first = cli(['etcd.switchover', '--from', 'codfw', '--to', 'eqiad']);
    expect(first.code).toBe(1);
    expect(first.stderr).toContain('needs --yes or a terminal');
    expect(first.stderr).not.toMatch(/\x1b\[/);
    const second = cli(['etcd.switchover', '--from', 'codfw', '--to', 'eqiad']);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('needs --yes or a terminal');
    expect(second.stderr).not.toContain('is held by');
  }, 120_000);

  test('SIGTERM of a running switchover rolls it back and leaves a finished journal, an audit END and no lock', async () => {
    const dir = state();
    let sent = false;
    const r = await switchover(dir, [], (out, kill) => {
      if (!sent && codfwReadOnly(out)) {
        sent = true;
        kill('SIGTERM');
      }
    });
    expect(sent).toBe(true);
    expect(r.code).toBe(97);
    const journal = readdirSync(join(dir, 'runs'));
    const lines = readFileSync(join(dir, 'runs', journal[0]!), 'utf8')
      .trim()
      .split('\n');
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({
      type: 'run-end',
      outcome: 'interrupted',
      exitCode: 97,
    });
    const audit = readFileSync(config.auditLog ?? join(dir, 'audit.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes(`run=${journal[0]!.replace('.jsonl', '')}`));
    expect(audit.at(-1)).toMatch(/ END .*cookbook=etcd\.switchover .*outcome=interrupted exit=97/);
    expect(await modes('codfw')).toBe('read-write');
    expect(await modes('eqiad')).toBe('read-only');
    // No lock left behind: the next run gets as far as its first question.
    const next = cli(['etcd.switchover', '--from', 'codfw', '--to', 'eqiad']);
    expect(next.stderr).not.toContain('is held by');
    expect(next.stderr).toContain('needs --yes or a terminal');
  }, 240_000);

  test('resume after a hand change in the read-only window refuses, shows the drift and changes nothing', async () => {
    const dir = state();
    let sent = false;
    const r = await switchover(dir, ['--on-failure', 'abort'], (out, kill) => {
      if (!sent && codfwReadOnly(out)) {
        sent = true;
        kill('SIGINT');
      }
    });
    expect(sent).toBe(true);
    expect([93, 97]).toContain(r.code);
    const runId = readdirSync(join(dir, 'runs'))[0]!.replace('.jsonl', '');
    expect(statSync(join(dir, 'runs', `${runId}.jsonl`)).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'runs')).mode & 0o777).toBe(0o700);
    try {
      // An operator makes codfw writable again by hand.
      const a = setProxyMode(config, 'codfw', 'read-write');
      await a.definition.apply(a.params, await a.definition.observe(a.params, env), env);
      await waitUntil({
        what: 'codfw read-write after the hand change',
        probe: () => modes('codfw'),
        until: (m) => m === 'read-write',
        timeoutMs: 15_000,
        intervalMs: 200,
      });
      const resumed = cli(['resume', runId, '-y'], dir);
      expect(resumed.code).toBe(1);
      expect(resumed.stdout).toContain('resume refuses and changed nothing');
      expect(resumed.stdout).toMatch(
        /Make codfw read-only": journaled as done, but now .* would change conf200\d\.codfw\.wmnet proxy: read-write → read-only/,
      );
      expect(await modes('codfw')).toBe('read-write');
      expect(await modes('eqiad')).toBe('read-only');
    } finally {
      const rb = cli(['rollback', runId, '-y'], dir);
      expect(rb.code).toBe(0);
    }
    expect(await modes('codfw')).toBe('read-write');
  }, 240_000);

  test('the dry-run plan shows the TTL restore as it will run (10s → 300s), never as already done', () => {
    const r = cli(['etcd.switchover', '--from', 'codfw', '--to', 'eqiad', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Restore the TTL[^\n]*\n(\s+·[^\n]*\n)?\s+[^\n]*TTL: 10s → 300s/);
    expect(r.stdout).not.toMatch(/Restore the TTL[^\n]*\n\s+= already done/);
  }, 120_000);

  test('`cookbook runs ../x` and an unknown run id are usage errors (exit 2)', () => {
    const bad = cli(['runs', '../../../x/evil']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a run id');
    expect(cli(['rollback', '../x', '-y']).code).toBe(2);
    expect(cli(['resume', '20990101-000000-abcd', '-y']).code).toBe(2);
  }, 120_000);
});
