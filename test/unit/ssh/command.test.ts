import { execFileSync } from 'node:child_process';
import { describe, expect, test } from '@jest/globals';
import { argvCommand, cmd, operatorCommand, safeCmd, shellQuote } from '../../../src/ssh/command.js';

const hostile = [
  '; touch /tmp/galley-pwned',
  "it's",
  "'; touch /tmp/x; echo '",
  '$(touch /tmp/x)',
  '`touch /tmp/x`',
  'a\nb',
  '*',
  '~root',
  '$HOME',
  '\\',
  '"',
  '',
  ' spaced  out ',
  '--help',
  'a && b || c > d < e | f & g',
];

/** Words the POSIX shell sees, printed one per NUL-terminated record. */
function wordsSeenBySh(commandLine: string): string[] {
  const out = execFileSync('sh', ['-c', `printf '%s\\0' ${commandLine}`]).toString();
  return out.split('\0').slice(0, -1);
}

describe('quoting for a remote POSIX shell', () => {
  test("a quote inside a value is written as '\\''", () => {
    expect(shellQuote("it's")).toBe("'it'\\''s'");
  });

  test.each(hostile)('the hostile value %p reaches sh (dash) as exactly one word, unchanged', (value) => {
    expect(wordsSeenBySh(shellQuote(value))).toEqual([value]);
  });

  test('every interpolated value is quoted and the template text is kept', () => {
    const unit = 'etcd; reboot';
    expect(cmd`systemctl restart ${unit}`).toEqual({
      text: "systemctl restart 'etcd; reboot'",
      isSafe: false,
    });
  });

  test('numbers are quoted like strings', () => {
    expect(cmd`sleep ${5}`.text).toBe("sleep '5'");
  });

  test('an array becomes one quoted word per item', () => {
    const files = ['a b', '$(x)'];
    const c = cmd`ls -l ${files}`;
    expect(c.text).toBe("ls -l 'a b' '$(x)'");
    expect(wordsSeenBySh(c.text.replace(/^ls -l /, ''))).toEqual(files);
  });

  test('a command built with cmd is unsafe and one built with safeCmd is safe', () => {
    expect(cmd`true`.isSafe).toBe(false);
    expect(safeCmd`systemctl is-active ${'etcd'}`).toEqual({
      text: "systemctl is-active 'etcd'",
      isSafe: true,
    });
  });

  test('a built command can be nested without being quoted twice', () => {
    const inner = cmd`echo ${'a b'}`;
    expect(cmd`timeout 5 sh -c ${inner.text}`.text).toBe("timeout 5 sh -c 'echo '\\''a b'\\'''");
    expect(cmd`sudo ${inner}`.text).toBe("sudo echo 'a b'");
  });

  test('a look-alike array instead of a template literal is refused', () => {
    const fake = Object.assign(['rm -rf ', ''], { raw: ['rm -rf ', ''] }) as unknown as TemplateStringsArray;
    expect(() => cmd(fake, '/')).toThrow('tagged template');
  });

  test('argv words are each quoted and hostile words stay single words', () => {
    const argv = ['printf', '%s\\0', ...hostile];
    const c = argvCommand(argv);
    expect(c.isSafe).toBe(false);
    const out = execFileSync('sh', ['-c', c.text]).toString();
    expect(out.split('\0').slice(0, -1)).toEqual(hostile);
  });

  test('argv commands may be declared safe', () => {
    expect(argvCommand(['cat', '/etc/default/etcd'], { isSafe: true })).toEqual({
      text: "'cat' '/etc/default/etcd'",
      isSafe: true,
    });
  });

  test('an empty argv is refused', () => {
    expect(() => argvCommand([])).toThrow('empty command');
  });

  test('an operator command of one argument is a shell line, of several is quoted argv, and never safe', () => {
    expect(operatorCommand(['uptime; df -h'])).toEqual({ text: 'uptime; df -h', isSafe: false });
    expect(operatorCommand(['echo', 'a; b'])).toEqual({ text: "'echo' 'a; b'", isSafe: false });
    expect(() => operatorCommand([])).toThrow('no command given');
  });
});

describe('marking commands for their timeout', () => {
  test('a marked command runs unchanged, with the run id in its environment', async () => {
    const { markedCommand } = await import('../../../src/ssh/pool.js');
    const marked = markedCommand("printf '%s|' \"it's\" 'a b' \"$GALLEY_RUN\"", '0123456789abcdef');
    expect(execFileSync('sh', ['-c', marked]).toString()).toBe("it's|a b|0123456789abcdef|");
  });

  test('the kill script never matches its own text', async () => {
    const { killMarkedScript } = await import('../../../src/ssh/pool.js');
    const script = killMarkedScript('0123456789abcdef');
    expect(script).toContain("grep -lsa 'GALLEY_RUN=[0]123456789abcdef'");
    expect(script).not.toContain('GALLEY_RUN=0123456789abcdef');
    expect(() => killMarkedScript("x'; reboot")).toThrow('invalid run id');
  });
});
