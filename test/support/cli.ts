import { spawnSync } from 'node:child_process';
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
export function runCli(args: string[], env: Record<string, string> = {}): CliResult {
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
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - started };
}
