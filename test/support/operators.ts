/**
 * The CLI run as one of the test lab's operator hosts (src/lab/operators.ts): its own
 * hostname (a UTS namespace) and state directory, as `cookbook lab operator HOST` does.
 */
import { spawnSync } from 'node:child_process';
import { LabLayout } from '../../src/lab/layout.js';
import { operatorArgv, operatorEnv } from '../../src/lab/operators.js';
import { type CliResult, watchCli } from './cli.js';

export const A = 'cumin1002.eqiad.wmnet';
export const B = 'cumin2002.codfw.wmnet';

export function testLayout(): LabLayout {
  const dir = process.env.GALLEY_TEST_LAB_DIR;
  if (!dir) throw new Error('GALLEY_TEST_LAB_DIR is not set: run through the integration global setup');
  return new LabLayout(dir);
}

const cli = (args: string[]) => [process.execPath, '--import', 'tsx', '--no-warnings', 'bin/dev.js', ...args];

/** Runs the CLI on an operator host and waits for it. */
export function onHost(
  host: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 240_000,
): CliResult {
  const started = Date.now();
  const [cmd, ...rest] = operatorArgv(host, cli(args));
  const r = spawnSync(cmd!, rest, {
    encoding: 'utf8',
    input: '',
    env: { ...process.env, NODE_OPTIONS: '', ...operatorEnv(testLayout(), host), ...env },
    timeout: timeoutMs,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - started };
}

/** Starts the CLI on an operator host; `onOutput` sees stdout as it grows and may send signals. */
export async function startOnHost(
  host: string,
  args: string[],
  onOutput: (out: string, kill: (s: NodeJS.Signals) => void) => void = () => undefined,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }> {
  const r = await watchCli(args, {
    env: operatorEnv(testLayout(), host),
    onOutput,
    wrap: (argv) => operatorArgv(host, argv),
  }).done;
  return { code: r.code, signal: r.signal, out: r.stdout, err: r.stderr };
}
