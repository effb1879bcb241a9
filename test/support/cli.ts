import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
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

/** A CLI process the test watches while it runs. */
export interface WatchedCli {
  child: ChildProcess;
  /** stdout and stderr as they arrived, interleaved. */
  text(): string;
  /** Resolves once stdout shows `text` (at once if it already has). */
  seen(text: string): Promise<void>;
  /** Resolves when the process has exited and its output is read. */
  done: Promise<CliResult & { signal: NodeJS.Signals | null; out: string }>;
}

export interface WatchOptions {
  /** Added to the environment (a fresh GALLEY_STATE_DIR unless it names one). */
  env?: Record<string, string>;
  /** Sees stdout each time it grows, with a way to signal the process. */
  onOutput?: (stdout: string, kill: (signal: NodeJS.Signals) => void) => void;
  /** Killed (SIGKILL) after this long; default 240 s. */
  timeoutMs?: number;
  /** Runs the built CLI (bin/run.js) instead of the sources through tsx. */
  built?: boolean;
  /** Wraps the node command line (an operator host's namespaces, say). */
  wrap?: (argv: string[]) => string[];
}

/** Starts the real CLI without waiting for it: for runs that overlap, or are signalled mid-run. */
export function watchCli(args: string[], o: WatchOptions = {}): WatchedCli {
  const started = Date.now();
  const node = o.built
    ? [process.execPath, 'bin/run.js', ...args]
    : [process.execPath, '--import', 'tsx', '--no-warnings', 'bin/dev.js', ...args];
  const [cmd, ...rest] = o.wrap ? o.wrap(node) : node;
  const child = spawn(cmd!, rest, {
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      GALLEY_STATE_DIR: mkdtempSync(join(tmpdir(), 'galley-cli-state-')),
      ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let out = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  const kill = (signal: NodeJS.Signals) => void child.kill(signal);
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    out += d;
    for (const w of waiters.filter((x) => stdout.includes(x.text))) w.resolve();
    o.onOutput?.(stdout, kill);
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    out += d;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 240_000);
  const done = new Promise<CliResult & { signal: NodeJS.Signals | null; out: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, out, ms: Date.now() - started });
    });
  });
  return {
    child,
    text: () => out,
    seen: (text) =>
      new Promise<void>((resolve) => (stdout.includes(text) ? resolve() : waiters.push({ text, resolve }))),
    done,
  };
}

/** {@link runCli}, without blocking: for runs that must overlap (locks). */
export async function runCliAsync(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 240_000,
): Promise<CliResult> {
  const { code, stdout, stderr, ms } = await watchCli(args, { env, timeoutMs }).done;
  return { code, stdout, stderr, ms };
}
