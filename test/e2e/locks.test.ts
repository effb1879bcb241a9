import { describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { etcdLockManagerFor } from '../../src/etcd/index.js';
import { labConfig, labConfigPath } from '../integration/lab.js';

function cookbook(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--no-warnings', 'bin/dev.js', ...args], {
    encoding: 'utf8',
    input: '',
    env: { ...process.env, NODE_OPTIONS: '', GALLEY_CONFIG: labConfigPath(), GALLEY_STATE_DIR: mkdtempSync(join(tmpdir(), 'galley-e2e-')) },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('cookbook locks in etcd (the lab)', () => {
  test('a run whose lock another run holds stops before its first step and names the holder', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'galley-lock-')), 'out');
    const locks = etcdLockManagerFor(labConfig());
    const held = await locks.acquire({ name: `examples.files:${dir}`, owner: 'alice@cumin1001 [4242]', runId: 'other-run', ttlMs: 60_000 });
    try {
      const r = cookbook(['examples.files', dir, '-y']);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('alice@cumin1001 [4242]');
      expect(r.stdout).toContain('other-run');
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
