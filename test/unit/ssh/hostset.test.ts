import { describe, expect, test } from '@jest/globals';
import {
  closeNames,
  expandHostSet,
  expandPattern,
  foldHosts,
  resolveHostSet,
} from '../../../src/ssh/hostset.js';
import { HostSetError } from '../../../src/ssh/errors.js';
import { ExitCode } from '../../../src/core/errors.js';

const inventory = {
  hosts: Object.fromEntries(
    [
      'conf2004.codfw.wmnet',
      'conf2005.codfw.wmnet',
      'conf2006.codfw.wmnet',
      'conf1007.eqiad.wmnet',
      ...Array.from({ length: 50 }, (_, i) => `bench${String(i + 1).padStart(3, '0')}.lab.wmnet`),
    ].map((h) => [h, {}]),
  ),
  aliases: {
    'conf-codfw': 'conf200[4-6].codfw.wmnet',
    conf: 'A:conf-codfw,conf1007.eqiad.wmnet',
    bench: 'bench[001-050].lab.wmnet',
    loop1: 'A:loop2',
    loop2: 'A:loop1',
    broken: 'A:missing',
  },
};

function thrown(fn: () => unknown): HostSetError {
  try {
    fn();
  } catch (e) {
    if (e instanceof HostSetError) return e;
    throw e;
  }
  throw new Error('expected a HostSetError');
}

describe('host sets in ClusterShell syntax', () => {
  test('a bracket range expands to one host per number', () => {
    expect(expandPattern('conf200[4-6].codfw.wmnet')).toEqual([
      'conf2004.codfw.wmnet',
      'conf2005.codfw.wmnet',
      'conf2006.codfw.wmnet',
    ]);
  });

  test('leading zeros in a range set the width of every number', () => {
    const names = expandPattern('bench[001-050].lab.wmnet');
    expect(names).toHaveLength(50);
    expect(names[0]).toBe('bench001.lab.wmnet');
    expect(names[9]).toBe('bench010.lab.wmnet');
    expect(names[49]).toBe('bench050.lab.wmnet');
  });

  test('a range without leading zeros is not padded', () => {
    expect(expandPattern('h[9-11]')).toEqual(['h9', 'h10', 'h11']);
  });

  test('lists and ranges combine inside one bracket', () => {
    expect(expandPattern('n[1,3-5]')).toEqual(['n1', 'n3', 'n4', 'n5']);
  });

  test('several bracket groups give their cartesian product', () => {
    expect(expandPattern('r[1-2]n[1-2]')).toEqual(['r1n1', 'r1n2', 'r2n1', 'r2n2']);
  });

  test('commas outside brackets separate items and duplicates are dropped', () => {
    expect(expandHostSet('a1,n[1,2],a1, n3', {})).toEqual(['a1', 'n1', 'n2', 'n3']);
  });

  test('aliases resolve recursively', () => {
    expect(expandHostSet('A:conf', inventory.aliases)).toEqual([
      'conf2004.codfw.wmnet',
      'conf2005.codfw.wmnet',
      'conf2006.codfw.wmnet',
      'conf1007.eqiad.wmnet',
    ]);
  });

  test('an alias cycle is an error naming the chain', () => {
    expect(thrown(() => expandHostSet('A:loop1', inventory.aliases)).message).toBe(
      'alias cycle: A:loop1 → A:loop2 → A:loop1',
    );
  });

  test('an unknown alias is an error suggesting close alias names', () => {
    const e = thrown(() => expandHostSet('A:benc', inventory.aliases));
    expect(e.message).toBe('unknown alias "A:benc"');
    expect(e.suggestions).toEqual(['did you mean A:bench?']);
  });

  test('an alias referring to an unknown alias names the referring alias', () => {
    expect(thrown(() => expandHostSet('A:broken', inventory.aliases)).message).toBe(
      'unknown alias "A:missing" (used by A:broken)',
    );
  });

  test.each([
    ['n[5-1]', 'the end is before the start'],
    ['n[a-b]', 'bad range "[a-b]"'],
    ['n[1-2', 'never closed'],
    ['n1-2]', 'unbalanced'],
    ['n[[1]]', 'nested'],
    ['a,,b', 'empty item'],
    ['', 'empty host set'],
    ['n[1-1000000]', 'too large'],
  ])('the malformed host set %p is refused (%s)', (expr, fragment) => {
    const e = thrown(() => expandHostSet(expr, {}));
    expect(e.message).toContain(fragment);
    expect(e.exitCode).toBe(ExitCode.USAGE);
  });

  test.each(['a;reboot', 'a$(id)', 'a b', "a'b", 'a`id`', 'a|b', '-oProxyCommand=x', '$(reboot)'])(
    'a host name with shell characters (%p) is refused',
    (expr) => {
      expect(thrown(() => expandHostSet(expr, {})).message).toContain('bad host name');
    },
  );

  test('resolving checks every name against the inventory', () => {
    expect(resolveHostSet('conf200[4-5].codfw.wmnet', inventory)).toEqual([
      'conf2004.codfw.wmnet',
      'conf2005.codfw.wmnet',
    ]);
  });

  test('an unknown host is an error naming it and suggesting close names', () => {
    const e = thrown(() => resolveHostSet('conf200[6-8].codfw.wmnet', inventory));
    expect(e.message).toBe(
      'unknown host "conf2007.codfw.wmnet" (and 1 more: conf2008.codfw.wmnet): not in the config\'s hosts',
    );
    expect(e.suggestions[0]).toMatch(
      /^did you mean conf2004\.codfw\.wmnet, conf2005\.codfw\.wmnet, conf2006\.codfw\.wmnet\?$/,
    );
  });

  test('close names are ranked by edit distance', () => {
    expect(closeNames('bench1', ['bench10', 'bench1x', 'zzz'])).toEqual(['bench10', 'bench1x']);
  });
});

describe('folding host names for display', () => {
  test('consecutive numbers fold into ranges, keeping the padding width', () => {
    expect(
      foldHosts([
        'bench001.lab.wmnet',
        'bench002.lab.wmnet',
        'bench003.lab.wmnet',
        'bench010.lab.wmnet',
        'bench100.lab.wmnet',
      ]),
    ).toBe('bench[001-003,010,100].lab.wmnet');
  });

  test('different prefixes and suffixes fold separately', () => {
    expect(
      foldHosts(['conf2004.codfw.wmnet', 'conf2005.codfw.wmnet', 'conf1007.eqiad.wmnet', 'localhost']),
    ).toBe('conf[2004-2005].codfw.wmnet,conf1007.eqiad.wmnet,localhost');
  });

  test('folding then expanding gives back the same hosts', () => {
    const names = expandPattern('bench[001-050].lab.wmnet').filter((_, i) => i % 3 !== 0);
    expect(expandHostSet(foldHosts(names), {})).toEqual(names);
  });
});
