import { describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../support/cli.js';

/**
 * The habits SREs bring from spicerack: `-l` lists, `-v` is verbose, `--task-id` is `-t`,
 * a task id is checked against a pattern (the config can set it), and a live run that
 * changes things outside tmux or screen warns (or is refused, as ensure_shell_is_durable).
 */
const tmp = () => mkdtempSync(join(tmpdir(), 'galley-conv-'));

/** A valid environment file with no servers (locks in files), plus `extra` YAML. */
function configFile(extra = ''): string {
  const file = join(tmp(), 'galley.yaml');
  writeFileSync(
    file,
    `datacenters: [eqiad]\nhosts: {}\nssh: {known_hosts: /dev/null}\netcd: {clusters: {}}\n${extra}`,
  );
  return file;
}

function journalOf(state: string): string {
  const runs = readdirSync(join(state, 'runs')).filter((f) => f.endsWith('.jsonl'));
  expect(runs).toHaveLength(1);
  return readFileSync(join(state, 'runs', runs[0]!), 'utf8');
}

/**
 * Runs the CLI on a pseudo-terminal (util-linux `script`), as an operator's SSH session does;
 * `env` is the terminal's environment (TMUX, STY…). Returns what the terminal showed.
 */
function onTerminal(args: string[], env: Record<string, string>): { code: number | null; output: string } {
  const quoted = ['node', '--import', 'tsx', '--no-warnings', 'bin/dev.js', ...args]
    .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
    .join(' ');
  const clean: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '' };
  delete clean.TMUX;
  delete clean.STY;
  const r = spawnSync('script', ['-qec', `${quoted} </dev/null`, '/dev/null'], {
    encoding: 'utf8',
    env: { ...clean, ...env },
    timeout: 60_000,
  });
  return { code: r.status, output: r.stdout };
}

describe("spicerack's CLI habits", () => {
  test('`cookbook -l` lists the cookbooks as `cookbook list` does', () => {
    const list = runCli(['list']);
    const short = runCli(['-l']);
    expect(short.code).toBe(0);
    expect(short.stdout).toBe(list.stdout);
    expect(short.stdout).toContain('examples');
    expect(short.stdout).toMatch(/files\s+Keep numbered files/);
  });

  test('--task-id is -t: the task is recorded in the journal and the audit log', () => {
    const state = tmp();
    const dir = join(tmp(), 'out');
    const r = runCli(['examples.files', dir, '-y', '--task-id', 'T358636', '-r', 'a test'], {
      GALLEY_STATE_DIR: state,
    });
    expect(r.code).toBe(0);
    expect(journalOf(state)).toContain('"task":"T358636"');
    expect(readFileSync(join(state, 'audit.log'), 'utf8')).toContain('task="T358636"');
  });

  test('a task id that is not T<digits> is refused (exit 2, one line naming the pattern) and nothing is run', () => {
    const state = tmp();
    const dir = join(tmp(), 'out');
    const r = runCli(['examples.files', dir, '-y', '-t', '358636'], { GALLEY_STATE_DIR: state });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')[0]).toBe(
      'cookbook: invalid task id "358636": it must match T\\d+ (e.g. T358636) (cli.task_id_pattern in the environment file)',
    );
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(join(state, 'runs'))).toBe(false);
  });

  test("the config's cli.task_id_pattern replaces the default", () => {
    const config = configFile("cli: {task_id_pattern: 'INC-\\d{4}'}\n");
    const state = tmp();
    const refused = runCli(['examples.files', join(tmp(), 'a'), '-y', '-c', config, '-t', 'T1'], {
      GALLEY_STATE_DIR: state,
    });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('invalid task id "T1": it must match INC-\\d{4}');
    const ok = runCli(['examples.files', join(tmp(), 'b'), '-y', '-c', config, '-t', 'INC-1234'], {
      GALLEY_STATE_DIR: state,
    });
    expect(ok.code).toBe(0);
  });

  test('a task_id_pattern that is not a regular expression is a config error naming its path', () => {
    const r = runCli([
      'examples.files',
      join(tmp(), 'a'),
      '-y',
      '-c',
      configFile("cli: {task_id_pattern: 'T(\\d+'}\n"),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cli.task_id_pattern: not a valid regular expression');
  });

  test('-v/--verbose shows debug lines (each observation); without it there are none', () => {
    const dir = join(tmp(), 'out');
    const quiet = runCli(['examples.files', dir, '-y', '--count', '1']);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).not.toContain('debug:');
    const verbose = runCli(['examples.files', join(tmp(), 'v'), '-y', '--count', '1', '-v']);
    expect(verbose.code).toBe(0);
    expect(verbose.stderr).toMatch(/debug: observed write .*file1\.txt: \{"exists":false/);
    const long = runCli(['examples.files', join(tmp(), 'w'), '-y', '--count', '1', '--verbose']);
    expect(long.stderr).toContain('debug: observed');
  });

  test('--lock-wait with a bad duration is a usage error (exit 2) and nothing is run', () => {
    const dir = join(tmp(), 'out');
    const r = runCli(['examples.files', dir, '-y', '--lock-wait', 'soon']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--lock-wait: invalid duration "soon"');
    expect(existsSync(dir)).toBe(false);
  });
});

describe('a durable shell (tmux or screen) for runs that change things', () => {
  test('on a terminal outside tmux and screen, a live run warns and goes on', () => {
    const dir = join(tmp(), 'out');
    const r = onTerminal(['examples.files', dir, '-y', '--count', '1'], { GALLEY_STATE_DIR: tmp() });
    expect(r.code).toBe(0);
    expect(r.output).toContain('WARNING: this run changes things and is not inside tmux or screen');
    expect(existsSync(join(dir, 'file1.txt'))).toBe(true);
  });

  test('inside tmux (TMUX) or screen (STY) it says nothing; nor does a dry-run', () => {
    const shells: Record<string, string>[] = [
      { TMUX: '/tmp/tmux-0/default,1,0' },
      { STY: '1234.pts-0.cumin1002' },
    ];
    for (const env of shells) {
      const r = onTerminal(['examples.files', join(tmp(), 'out'), '-y', '--count', '1'], {
        GALLEY_STATE_DIR: tmp(),
        ...env,
      });
      expect(r.code).toBe(0);
      expect(r.output).not.toContain('not inside tmux or screen');
    }
    const dry = onTerminal(['examples.files', join(tmp(), 'dry'), '--dry-run'], { GALLEY_STATE_DIR: tmp() });
    expect(dry.code).toBe(0);
    expect(dry.output).not.toContain('not inside tmux or screen');
  });

  test('with cli.durable_shell: require, it is refused (exit 2) before anything changes', () => {
    const dir = join(tmp(), 'out');
    const config = configFile('cli: {durable_shell: require}\n');
    const r = onTerminal(['examples.files', dir, '-y', '-c', config], { GALLEY_STATE_DIR: tmp() });
    expect(r.code).toBe(2);
    expect(r.output).toContain('refused: this run changes things and is not inside tmux or screen');
    expect(existsSync(dir)).toBe(false);
    // A script (no terminal) is durable enough: it runs.
    const piped = runCli(['examples.files', dir, '-y', '-c', config]);
    expect(piped.code).toBe(0);
  });
});
