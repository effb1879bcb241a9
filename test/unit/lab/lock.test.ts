import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { LabLayout } from '../../../src/lab/layout.js';
import { withLabLock } from '../../../src/lab/state.js';

const layout = () => new LabLayout(mkdtempSync(join(tmpdir(), 'lab-lock-')));

describe('the lab directory lock', () => {
  test('is held while the work runs and released after it', async () => {
    const l = layout();
    const seen = await withLabLock(l, async () => existsSync(join(l.dir, '.lock')));
    expect(seen).toBe(true);
    expect(existsSync(join(l.dir, '.lock'))).toBe(false);
  });

  test('a live holder makes a second command fail at once, naming its PID', async () => {
    const l = layout();
    writeFileSync(join(l.dir, '.lock'), `${process.ppid}\n`);
    await expect(withLabLock(l, async () => 'ran')).rejects.toThrow(
      `another lab command (pid ${process.ppid}) is working on ${l.dir}`,
    );
  });

  test('a lock left by a dead process is taken over', async () => {
    const l = layout();
    writeFileSync(join(l.dir, '.lock'), `${2 ** 22 + 4321}\n`);
    await expect(withLabLock(l, async () => 'ran')).resolves.toBe('ran');
  });
});
