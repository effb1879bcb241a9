import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultConfigPaths } from '../config/load.js';
import { runAdHoc, type AdHocRequest } from './adhoc.js';

/**
 * `cookbook exec` without oclif: the same flags, parsed with node:util, for a launcher that
 * wants to skip oclif's start-up (about half a second on a loaded machine) on this one hot
 * command. `src/commands/exec.ts` stays the documented command; both call {@link runAdHoc}.
 */
export const EXEC_OPTIONS = {
  config: { type: 'string', short: 'c' },
  'batch-size': { type: 'string', short: 'b' },
  'batch-sleep': { type: 'string', short: 's' },
  'success-threshold': { type: 'string', short: 'p' },
  timeout: { type: 'string', short: 't' },
  json: { type: 'boolean' },
  'dry-run': { type: 'boolean', short: 'd' },
  progress: { type: 'boolean' },
} as const;

/** Turns `exec` arguments (`HOSTS [flags] -- CMD…`) into a request; throws on unknown flags. */
export function parseExecArgv(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): AdHocRequest {
  const dashdash = argv.indexOf('--');
  const before = dashdash === -1 ? [...argv] : argv.slice(0, dashdash);
  const after = dashdash === -1 ? [] : argv.slice(dashdash + 1);
  const noProgress = before.includes('--no-progress');
  const { values, positionals } = parseArgs({
    args: before.filter((a) => a !== '--no-progress'),
    options: EXEC_OPTIONS,
    allowPositionals: true,
    strict: true,
  });
  const [hosts = '', ...commandBefore] = positionals;
  return {
    hosts,
    command: [...commandBefore, ...after],
    configPath: values.config ?? env.GALLEY_CONFIG,
    batchSize: values['batch-size'],
    batchSleep: values['batch-sleep'],
    successThreshold: values['success-threshold'],
    timeout: values.timeout,
    json: values.json ?? false,
    dryRun: values['dry-run'] ?? false,
    progress: noProgress ? false : values.progress,
  };
}

/** Runs `exec` from raw arguments with the process's stdio; returns the exit code. */
export async function execMain(argv: readonly string[]): Promise<number> {
  let request: AdHocRequest;
  try {
    request = parseExecArgv(argv);
    if (!request.hosts) throw new Error('missing HOSTS: cookbook exec HOSTS -- CMD…');
  } catch (e) {
    process.stderr.write(`cookbook exec: ${(e as Error).message}\n`);
    return 2;
  }
  return runAdHoc(request, {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    stderrIsTty: process.stderr.isTTY === true,
    defaultConfigPath: () => defaultConfigPaths()[0],
  });
}

// Run as a script: node dist/src/ssh/exec-main.js HOSTS -- CMD…
const invoked = process.argv[1];
if (invoked && import.meta.url === pathToFileURL(realpathSync(invoked)).href) {
  process.exitCode = await execMain(process.argv.slice(2));
}
