import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs the real CLI from the TypeScript sources (as bin/dev.js does), with stdin closed and
 * a fresh state directory unless `env` names one.
 */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): CliResult {
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--no-warnings', 'bin/dev.js', ...args], {
    encoding: 'utf8',
    input: '',
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      GALLEY_STATE_DIR: mkdtempSync(join(tmpdir(), 'galley-cli-state-')),
      ...env,
    },
    timeout: timeoutMs,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - started };
}

/** {@link runCli}, without blocking: for runs that must overlap (locks). */
export function runCliAsync(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 240_000,
): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', 'bin/dev.js', ...args], {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        GALLEY_STATE_DIR: mkdtempSync(join(tmpdir(), 'galley-cli-state-')),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}
