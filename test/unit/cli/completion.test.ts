import { beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseConfig } from '../../../src/config/schema.js';
import { type CompletableCommand, valueSlotAt, valuesOf } from '../../../src/cli/completion.js';
import { BUILTIN_COMMANDS } from '../../../src/cli/builtin-commands.js';
import { runCli } from '../../support/cli.js';

/** Commands as oclif's manifest describes them (only what completion reads). */
const table: Record<string, CompletableCommand> = {
  'etcd.switchover': {
    flags: {
      config: { type: 'option', char: 'c' },
      'dry-run': { type: 'boolean', char: 'd' },
      task: { type: 'option', char: 't', aliases: ['task-id'] },
      from: { type: 'option' },
      to: { type: 'option' },
    },
    args: {},
    valueKinds: { from: 'datacenter', to: 'datacenter' },
  },
  'etcd.backup': {
    flags: { keep: { type: 'option' }, yes: { type: 'boolean', char: 'y' } },
    args: { cluster: {} },
    valueKinds: { cluster: 'cluster' },
  },
  'lab:ssh': { flags: {}, args: { host: {} } },
  exec: {
    flags: { config: { type: 'option', char: 'c' } },
    args: { hosts: {} },
    valueKinds: { hosts: 'host' },
  },
};
const slot = (...words: string[]) => valueSlotAt(words, (id) => table[id]);

describe('which value is being completed', () => {
  test('the value of a flag of a kind, after the flag or after --flag=', () => {
    expect(slot('etcd.switchover', '--from', '')).toEqual({ kind: 'datacenter' });
    expect(slot('etcd.switchover', '--from', 'co')).toEqual({ kind: 'datacenter' });
    expect(slot('etcd.switchover', '--from=co')).toEqual({ kind: 'datacenter' });
    // bash splits on "=" (COMP_WORDBREAKS)
    expect(slot('etcd.switchover', '--to', '=', '')).toEqual({ kind: 'datacenter' });
    expect(slot('etcd.switchover', '-d', '--from', 'codfw', '--to', '')).toEqual({ kind: 'datacenter' });
  });

  test('a positional argument of a kind, counting past flags and their values', () => {
    expect(slot('etcd.backup', '')).toEqual({ kind: 'cluster' });
    expect(slot('etcd.backup', '--keep', '3', '-y', 'co')).toEqual({ kind: 'cluster' });
    expect(slot('etcd.backup', 'codfw', '')).toBeUndefined(); // no second argument
    expect(slot('exec', 'conf')).toEqual({ kind: 'host' });
  });

  test('the --config typed on the line is the one to read', () => {
    expect(slot('etcd.switchover', '-c', '/tmp/a.yaml', '--from', '')).toEqual({
      kind: 'datacenter',
      config: '/tmp/a.yaml',
    });
    expect(slot('exec', '--config=/tmp/b.yaml', '')).toEqual({ kind: 'host', config: '/tmp/b.yaml' });
  });

  test('command names, flag names, free values and unknown commands are not its business', () => {
    expect(slot('etcd.sw')).toBeUndefined();
    expect(slot('etcd.switchover', '--fr')).toBeUndefined();
    expect(slot('etcd.switchover', '--task', '')).toBeUndefined();
    expect(slot('etcd.switchover', '--task-id', 'T1', '--from', '')).toEqual({ kind: 'datacenter' });
    expect(slot('etcd.backup', '--keep', '')).toBeUndefined();
    expect(slot('lab', 'ssh', '')).toBeUndefined(); // lab hosts are not the config's
    expect(slot('nope', '--from', '')).toBeUndefined();
  });
});

test("the values are the config's datacenters, hosts and etcd clusters", () => {
  const { config } = parseConfig(
    {
      datacenters: ['eqiad', 'codfw'],
      hosts: {
        'conf2001.codfw.wmnet': { address: '127.32.2.1', datacenter: 'codfw' },
        'conf1001.eqiad.wmnet': { address: '127.32.1.1', datacenter: 'eqiad' },
      },
      ssh: { key_file: '/k', known_hosts: '/kh' },
      etcd: {
        clusters: {
          eqiad: { members: ['conf1001.eqiad.wmnet'], srv_record: '_etcd._tcp.eqiad.wmnet' },
          codfw: { members: ['conf2001.codfw.wmnet'], srv_record: '_etcd._tcp.codfw.wmnet' },
        },
      },
    },
    '/tmp/galley-completion.yaml',
  );
  expect(valuesOf('datacenter', config!)).toEqual(['eqiad', 'codfw']);
  expect(valuesOf('host', config!)).toEqual(['conf1001.eqiad.wmnet', 'conf2001.codfw.wmnet']);
  expect(valuesOf('cluster', config!)).toEqual(['codfw', 'eqiad']);
});

test('every module of src/commands is a command of the explicit discovery table', () => {
  const root = join(process.cwd(), 'src', 'commands');
  const ids: string[] = [];
  const walk = (dir: string) => {
    for (const f of readdirSync(dir, { withFileTypes: true })) {
      if (f.isDirectory()) walk(join(dir, f.name));
      else if (f.name.endsWith('.ts'))
        ids.push(relative(root, join(dir, f.name)).replace(/\.ts$/, '').replace('/', ':'));
    }
  };
  walk(root);
  expect(Object.keys(BUILTIN_COMMANDS).sort()).toEqual(ids.sort());
});

/**
 * The real CLI (from the sources) writes the scripts, and bash completes with them: `cookbook`
 * on PATH is the CLI, the environment file is a small one with two datacenters.
 */
describe('`cookbook autocomplete`', () => {
  const work = mkdtempSync(join(tmpdir(), 'galley-complete-'));
  const cache = join(work, 'cache');
  const config = join(work, 'galley.yaml');
  const env = {
    COOKBOOK_CACHE_DIR: cache,
    GALLEY_CONFIG: config,
    PATH: `${join(work, 'bin')}:${process.env.PATH ?? ''}`,
  };
  let bashOutput = '';

  beforeAll(() => {
    writeFileSync(
      config,
      [
        'datacenters: [eqiad, codfw]',
        'hosts:',
        '  conf1001.eqiad.wmnet: {address: 127.32.1.1, datacenter: eqiad}',
        '  conf2001.codfw.wmnet: {address: 127.32.2.1, datacenter: codfw}',
        'ssh: {key_file: /k, known_hosts: /kh}',
        'etcd:',
        '  clusters:',
        '    eqiad: {members: [conf1001.eqiad.wmnet], srv_record: _etcd._tcp.eqiad.wmnet}',
        '    codfw: {members: [conf2001.codfw.wmnet], srv_record: _etcd._tcp.codfw.wmnet}',
        '',
      ].join('\n'),
    );
    mkdirSync(join(work, 'bin'));
    const shim = join(work, 'bin', 'cookbook');
    writeFileSync(
      shim,
      `#!/bin/sh\nNODE_OPTIONS= exec '${process.execPath}' --import tsx --no-warnings '${join(process.cwd(), 'bin', 'dev.js')}' "$@"\n`,
    );
    chmodSync(shim, 0o755);
    const bash = runCli(['autocomplete', 'bash'], env);
    expect(bash.code).toBe(0);
    bashOutput = bash.stdout;
    expect(runCli(['autocomplete', 'zsh'], env).code).toBe(0);
  }, 240_000);

  /** What bash offers for the words typed (the last is the one completed), through the registered function. */
  function complete(...words: string[]): string[] {
    const script = [
      `source '${join(cache, 'autocomplete', 'bash_setup')}'`,
      'COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}',
      `fn=$(complete -p cookbook | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')`,
      '"$fn"',
      'printf "%s\\n" "${COMPREPLY[@]}"',
    ].join('\n');
    const r = spawnSync('bash', ['-c', script, 'bash', 'cookbook', ...words], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
      timeout: 120_000,
    });
    expect(r.stderr).toBe('');
    return r.stdout.split('\n').filter(Boolean);
  }

  test('prints how to set it up in bash', () => {
    expect(bashOutput).toContain('cookbook autocomplete script bash');
  });

  test('the generated bash and zsh scripts hold the cookbook names and their flags', () => {
    const bash = readFileSync(join(cache, 'autocomplete', 'functions', 'bash', 'cookbook.bash'), 'utf8');
    expect(bash).toMatch(/^etcd\.switchover .*--from.*--to/m);
    expect(bash).toMatch(/^etcd\.backup .*--keep/m);
    expect(bash).toMatch(/^examples\.files .*--dry-run.*--count/m);
    expect(bash).toMatch(/^lab:up /m);
    const zsh = readFileSync(join(cache, 'autocomplete', 'functions', 'zsh', '_cookbook'), 'utf8');
    expect(zsh).toContain('"etcd.switchover[Switch the etcd master');
    expect(zsh).toMatch(/--from"\[the current master datacenter\]/);
    expect(zsh).toContain('"list[List the cookbooks');
    // Galley's part of each setup file, after the plugin's
    expect(readFileSync(join(cache, 'autocomplete', 'bash_setup'), 'utf8')).toMatch(
      /source \$COOKBOOK_AC_BASH_COMPFUNC_PATH;\n[\s\S]*complete -F _cookbook_galley_autocomplete cookbook\n$/,
    );
    expect(readFileSync(join(cache, 'autocomplete', 'zsh_setup'), 'utf8')).toMatch(
      /compinit;\n[\s\S]*compdef _cookbook_galley cookbook\n$/,
    );
  });

  test('bash completes cookbook names (dotted) and commands, and the flags of a cookbook', () => {
    expect(complete('')).toEqual(
      expect.arrayContaining(['etcd.switchover', 'etcd.backup', 'list', 'lab', 'exec']),
    );
    expect(complete('')).not.toContain('complete-values'); // hidden
    expect(complete('etcd.sw')).toEqual(['etcd.switchover']);
    expect(complete('etcd.switchover', '--f')).toEqual(['--from']);
    expect(complete('etcd.backup', 'codfw', '--k')).toEqual(['--keep']); // after a positional argument
    expect(complete('lab', 'u')).toEqual(['up']);
  });

  test("bash completes --from with the config's datacenters and an etcd cluster argument with its clusters", () => {
    expect(complete('etcd.switchover', '--from', '')).toEqual(['eqiad', 'codfw']);
    expect(complete('etcd.switchover', '--from', 'codfw', '--to', 'e')).toEqual(['eqiad']);
    expect(complete('etcd.backup', '')).toEqual(['codfw', 'eqiad']);
  }, 240_000);

  const zsh = spawnSync('zsh', ['--version']).status === 0;
  (zsh ? test : test.skip)(
    "zsh completes --from with the config's datacenters (zsh installed)",
    () => {
      // Galley's part of zsh_setup, with zsh's completion builtins stubbed: compadd prints what it is offered.
      const setup = readFileSync(join(cache, 'autocomplete', 'zsh_setup'), 'utf8');
      const part = setup.slice(setup.indexOf('# Galley: values'));
      const script = [
        'compdef() { :; }; compset() { :; }; _cookbook() { print PLUGIN; }',
        'compadd() { [[ $1 == -- ]] && shift; print -l -- "$@"; }',
        part,
        'words=(cookbook etcd.switchover --from ""); CURRENT=4; _cookbook_galley',
        'words=(cookbook etcd.switchover --f); CURRENT=3; _cookbook_galley',
      ].join('\n');
      const r = spawnSync('zsh', ['-f', '-c', script], { encoding: 'utf8', env: { ...process.env, ...env } });
      expect(r.stdout.split('\n').filter(Boolean)).toEqual(['eqiad', 'codfw', 'PLUGIN']);
    },
    240_000,
  );
});
