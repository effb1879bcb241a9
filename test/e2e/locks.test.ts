import { describe, expect, test } from '@jest/globals';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { etcdLockManagerFor } from '../../src/etcd/index.js';
import { labConfig, labConfigPath } from '../integration/lab.js';
import { runCli } from '../support/cli.js';

const cookbook = (args: string[]) => runCli(args, { GALLEY_CONFIG: labConfigPath() });

describe('cookbook locks in etcd (the lab)', () => {
  test('a run whose lock another run holds stops before its first step and names the holder', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'galley-lock-')), 'out');
    const locks = etcdLockManagerFor(labConfig());
    const held = await locks.acquire({
      name: `examples.files:${dir}`,
      owner: 'alice@cumin1001 [4242]',
      runId: 'other-run',
      ttlMs: 60_000,
    });
    try {
      const r = cookbook(['examples.files', dir, '-y']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('alice@cumin1001 [4242]');
      expect(r.stderr).toContain('other-run');
      expect(existsSync(dir)).toBe(false);
    } finally {
      await held.release();
    }
    const r = cookbook(['examples.files', dir, '-y']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`lock examples.files:${dir} taken`);
    expect(existsSync(join(dir, 'file1.txt'))).toBe(true);
    expect(await locks.holders(`examples.files:${dir}`)).toEqual([]);
  });
});
