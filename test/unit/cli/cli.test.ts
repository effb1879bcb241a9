import { describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../support/cli.js';

const cookbook = (args: string[], env: Record<string, string> = {}) => runCli(args, env);

/** A fingerprint of a directory: every path, mode, size, mtime and content. */
function snapshot(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      const s = statSync(p);
      h.update(`${p} ${s.mode} ${s.size} ${s.mtimeMs}\n`);
      if (s.isDirectory()) walk(p);
      else h.update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

const tmp = () => mkdtempSync(join(tmpdir(), 'galley-cli-'));

describe('the cookbook CLI', () => {
  test('an unknown cookbook exits 98 and suggests the closest names', () => {
    const r = cookbook(['examples.fils']);
    expect(r.code).toBe(98);
    expect(r.stderr).toContain('no cookbook or command named "examples.fils"');
    expect(r.stderr).toContain('did you mean examples.files');
  });

  test('an unknown flag exits 2 and changes nothing', () => {
    const dir = join(tmp(), 'out');
    const r = cookbook(['examples.files', dir, '--colour', 'red', '-y'], { GALLEY_STATE_DIR: tmp() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Nonexistent flag: --colour/);
    expect(() => statSync(dir)).toThrow();
  });

  test('a bad argument value exits 2 with a one-line reason', () => {
    const r = cookbook(['examples.files', join(tmp(), 'x'), '--count', 'many', '-y'], {
      GALLEY_STATE_DIR: tmp(),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--count: "many" is not an integer');
  });

  test('a dry-run leaves the world byte-for-byte unchanged', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'keep'));
    writeFileSync(join(dir, 'file1.txt'), 'old text\n');
    writeFileSync(join(dir, 'file7.txt'), 'beyond the count\n');
    const before = snapshot(dir);
    const r = cookbook(['examples.files', dir, '--count', '3', '--dry-run'], { GALLEY_STATE_DIR: tmp() });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('DRY-RUN');
    expect(r.stdout).toContain(`${join(dir, 'file7.txt')}: "beyond the count\\n" → absent`);
    expect(snapshot(dir)).toBe(before);
  });

  test('without --yes, a closed stdin ends the run at the first question, exit 1, before the first change', () => {
    const dir = join(tmp(), 'out');
    const state = tmp();
    const r = cookbook(['examples.files', dir], { GALLEY_STATE_DIR: state });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('needs --yes or a terminal');
    expect(r.stderr).toContain('nothing was changed');
    expect(r.stderr).not.toMatch(/\x1b\[/);
    expect(() => statSync(dir)).toThrow();
    const runs = readdirSync(join(state, 'runs'));
    const journal = readFileSync(join(state, 'runs', runs[0]!), 'utf8');
    expect(journal).toContain('"type":"run-end"');
    expect(readFileSync(join(state, 'audit.log'), 'utf8')).toMatch(/ END .*outcome=aborted exit=1/);
  });

  test('a run with --yes applies, and a failure rolls back the files written before it', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'file2.txt')); // a directory where a file must go: writing it fails
    const r = cookbook(['examples.files', dir, '-y', '--json'], { GALLEY_STATE_DIR: tmp() });
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout) as { outcome: string };
    expect(result.outcome).toBe('rolled-back');
    expect(readdirSync(dir).sort()).toEqual(['file2.txt']);
  });

  test('list shows the cookbooks as a tree with titles, and as JSON', () => {
    const r = cookbook(['list']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^examples\n {2}files +Keep numbered files/m);
    const json = JSON.parse(cookbook(['list', '--json']).stdout) as { name: string; title: string }[];
    expect(json.map((c) => c.name)).toContain('examples.files');
  });

  test('the root --help lists the cookbooks as commands, with their titles', () => {
    const r = cookbook(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^COMMANDS$/m);
    expect(r.stdout).toMatch(/^ {2}examples\.files +Keep numbered files/m);
    expect(r.stdout).toMatch(/^ {2}etcd\.switchover +Switch the etcd master/m);
    expect(r.stdout).toMatch(/^ {2}list +List the cookbooks/m);
    expect(r.stdout).toMatch(/^ {2}autocomplete +/m);
    expect(r.stdout).not.toContain('complete-values'); // hidden: the shell completion's helper
    expect(r.stdout).toContain('93  rollback failed');
  });

  test("a cookbook's --help is generated from its definition and documents the exit codes", () => {
    const r = cookbook(['examples.files', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--count=<integer>');
    expect(r.stdout).toContain('how many numbered files to keep (default: 3)');
    expect(r.stdout).toContain('93  rollback failed');
  });

  test('a malformed config is refused with the path of every problem, exit 2', () => {
    const dir = tmp();
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'datacenters: [eqiad]\nhosts:\n  conf1.eqiad.wmnet: {address: 300.1.1.1, datacenter: esams}\nssh: {key_file: k, known_hosts: h}\netcd: {clusters: {}}\n',
    );
    const r = cookbook(['examples.files', join(dir, 'x'), '-y', '-c', file], { GALLEY_STATE_DIR: tmp() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('hosts.conf1.eqiad.wmnet.address: must be an IPv4 address');
    expect(r.stderr).toContain('hosts.conf1.eqiad.wmnet.datacenter: unknown datacenter "esams"');
  });

  test('`cookbook rollback RUN` undoes a run whose cookbook no longer exists (action kinds are registered on their own)', () => {
    const state = tmp();
    const dir = join(tmp(), 'out');
    expect(cookbook(['examples.files', dir, '--count', '2', '-y'], { GALLEY_STATE_DIR: state }).code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['file1.txt', 'file2.txt']);
    const [journal] = readdirSync(join(state, 'runs')).filter((f) => f.endsWith('.jsonl'));
    const path = join(state, 'runs', journal!);
    const text = readFileSync(path, 'utf8');
    expect(text).toContain('"cookbook":"examples.files"');
    // The cookbook is renamed away: no module of that name exists any more.
    writeFileSync(path, text.replaceAll('"cookbook":"examples.files"', '"cookbook":"examples.retired"'));
    expect(cookbook(['examples.retired']).code).toBe(98);
    const r = cookbook(['rollback', journal!.replace('.jsonl', ''), '-y'], { GALLEY_STATE_DIR: state });
    expect(r.stderr + r.stdout).toContain('rollback complete');
    expect(r.code).toBe(0);
    expect(() => statSync(dir)).toThrow();
  });
});
