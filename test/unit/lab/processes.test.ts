import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import {
  isRunning,
  mountNamespace,
  processName,
  processState,
  readPidFile,
} from '../../../src/lab/processes.js';

describe('lab processes by PID', () => {
  test('this process is running, with a name and a mount namespace', () => {
    expect(processState(process.pid)).toBe('running');
    expect(isRunning(process.pid)).toBe(true);
    expect(processName(process.pid)).toBeTruthy();
    expect(mountNamespace('self')).toMatch(/^mnt:\[\d+\]$/);
  });

  test('a PID that does not exist is gone, and an absent PID is not running', () => {
    expect(processState(2 ** 22 + 12345)).toBe('gone');
    expect(isRunning(undefined)).toBe(false);
    expect(processName(2 ** 22 + 12345)).toBeUndefined();
  });

  test('PID files are read as positive integers; anything else is no PID', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lab-pid-'));
    writeFileSync(join(dir, 'ok.pid'), '1234\n');
    writeFileSync(join(dir, 'bad.pid'), 'nope\n');
    expect(readPidFile(join(dir, 'ok.pid'))).toBe(1234);
    expect(readPidFile(join(dir, 'bad.pid'))).toBeUndefined();
    expect(readPidFile(join(dir, 'missing.pid'))).toBeUndefined();
  });
});
