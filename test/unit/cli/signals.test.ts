import { describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Starts the real CLI on the fixture cookbooks; resolves with its exit code and output. */
function start(
  args: string[],
  stateDir: string,
  onStdout: (text: string, send: (sig: NodeJS.Signals) => void) => void,
) {
  const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', 'bin/dev.js', ...args], {
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      GALLEY_COOKBOOKS_PATH: join(process.cwd(), 'fixtures', 'cookbooks'),
      GALLEY_STATE_DIR: stateDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    onStdout(out, (sig) => child.kill(sig));
  });
  return new Promise<{ code: number | null; out: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, out })),
  );
}

describe('Ctrl-C on a real run', () => {
  test('the action in flight finishes, the run is rolled back (--on-failure rollback) and exits 97', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'galley-sig-'));
    const state = mkdtempSync(join(tmpdir(), 'galley-sig-state-'));
    let sent = false;
    const r = await start(['fixture.slow-files', dir, '--delay', '1500ms', '-y'], state, (out, send) => {
      if (!sent && out.includes('· slowly write')) {
        sent = true;
        send('SIGINT');
      }
    });
    expect(r.code).toBe(97);
    expect(r.out).toContain('finishing the action in flight');
    expect(r.out).toContain('undone and verified: slowly write');
    expect(readdirSync(dir)).toEqual([]);
    const journal = readFileSync(join(state, 'runs', readdirSync(join(state, 'runs'))[0]!), 'utf8');
    expect(journal).toContain('"outcome":"interrupted"');
  }, 60_000);

  test('with --on-failure abort, an interrupted run keeps what it applied and can be resumed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'galley-sig-'));
    const state = mkdtempSync(join(tmpdir(), 'galley-sig-state-'));
    let sent = false;
    const r = await start(
      ['fixture.slow-files', dir, '--delay', '1500ms', '-y', '--on-failure', 'abort'],
      state,
      (out, send) => {
        if (!sent && out.includes('· slowly write')) {
          sent = true;
          send('SIGINT');
        }
      },
    );
    expect(r.code).toBe(97);
    expect(existsSync(join(dir, 'fast.txt'))).toBe(true);
    const runId = readdirSync(join(state, 'runs'))[0]!.replace('.jsonl', '');
    const resumed = await start(['resume', runId, '-y'], state, () => undefined);
    expect(resumed.code).toBe(0);
    expect(resumed.out).toContain('done in the earlier attempt');
    expect(readdirSync(dir).sort()).toEqual(['fast.txt', 'slow1.txt', 'slow2.txt', 'slow3.txt']);
  }, 60_000);
});
