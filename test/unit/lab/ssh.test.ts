import { describe, expect, test } from '@jest/globals';
import { labStatus } from '../../../src/lab/status.js';
import { findLabHost, sshArgs } from '../../../src/lab/ssh.js';
import { resolveLabOptions } from '../../../src/lab/index.js';

const status = labStatus({ dir: '/nonexistent/lab-unit', base: '127.22' });

describe('lab ssh', () => {
  test('a host is found by full name or unique prefix', () => {
    expect(findLabHost(status, 'conf1007.eqiad.wmnet').address).toBe('127.22.1.7');
    expect(findLabHost(status, 'conf2005').address).toBe('127.22.2.5');
  });

  test('an unknown or ambiguous host is refused with the known names', () => {
    expect(() => findLabHost(status, 'mw1001')).toThrow('no lab host named "mw1001"');
    expect(() => findLabHost(status, 'conf100')).toThrow('matches 3 lab hosts');
  });

  test("ssh uses the lab's key and known_hosts, checks the host key under the host's name, and runs the command", () => {
    const args = sshArgs(status, { name: 'conf1007.eqiad.wmnet', address: '127.22.1.7' }, ['hostname']);
    expect(args).toEqual(
      expect.arrayContaining([
        '-i',
        '/nonexistent/lab-unit/ssh/id_ed25519',
        'HostKeyAlias=conf1007.eqiad.wmnet',
        'StrictHostKeyChecking=yes',
      ]),
    );
    expect(args.slice(-2)).toEqual(['root@127.22.1.7', 'hostname']);
  });

  test('a lab that was never started reports down with every process not running', () => {
    expect(status.up).toBe(false);
    expect(status.processes.every((p) => !p.running)).toBe(true);
  });

  test('lab options default from GALLEY_LAB_DIR and GALLEY_LAB_BASE, then from the built-in defaults', () => {
    expect(resolveLabOptions({}, { GALLEY_LAB_DIR: '/d', GALLEY_LAB_BASE: '127.40' })).toMatchObject({
      dir: '/d',
      base: '127.40',
    });
    expect(resolveLabOptions({}, {})).toMatchObject({ dir: '/var/lib/galley/lab', base: '127.20' });
    expect(resolveLabOptions({ base: '127.5' }, { GALLEY_LAB_BASE: '127.40' }).base).toBe('127.5');
  });
});
