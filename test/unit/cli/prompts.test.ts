import { describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Drives the real CLI's prompts (@inquirer/prompts) by writing answers to its stdin as each
 * question appears on stderr; stdin is closed after the last answer.
 */
function answering(args: string[], answers: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', 'bin/dev.js', ...args], {
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      GALLEY_STATE_DIR: mkdtempSync(join(tmpdir(), 'galley-prompt-')),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let asked = 0;
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    // A prompt is redrawn as it is answered: count each question once.
    const questions = new Set(stderr.match(/\? (Apply step \d+\?|.*What now\?)/g) ?? []).size;
    while (asked < questions) {
      const answer = answers[asked++];
      if (answer === undefined) child.stdin.end();
      else child.stdin.write(`${answer}\n`);
    }
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, stdout, stderr })),
  );
}

describe('confirmation prompts on the real CLI', () => {
  test('"g" applies a step, "s" skips it, and a failed check then offers retry / rollback / skip / abort', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'galley-prompt-dir-')), 'out');
    const r = await answering(['examples.files', dir, '--count', '2'], ['g', 's', 'b']);
    expect(r.stderr).toContain('Apply step 1?');
    expect(r.stderr).toContain('Apply step 2?');
    expect(r.stdout).toContain('skipped by the operator');
    expect(r.stderr).toContain('roll back everything applied so far');
    expect(r.stdout).toContain('rollback complete');
    expect(r.code).toBe(1);
    expect(existsSync(dir)).toBe(false);
  }, 60_000);

  test('answering "g" to every step runs the cookbook to the end', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'galley-prompt-dir-')), 'out');
    const r = await answering(['examples.files', dir, '--count', '2'], ['g', 'g']);
    expect(r.code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['file1.txt', 'file2.txt']);
  }, 60_000);
});
