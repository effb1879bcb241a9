/**
 * The lab's record of itself (state.json in the state directory): enough for `lab down`
 * and `lab status` to find what `lab up` started, even after a crash.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from './errors.js';
import type { LabLayout } from './layout.js';
import { isRunning, readPidFile } from './processes.js';

export interface LabState {
  base: string;
  benchHosts: number;
  startedAt: string;
  /** Seconds `lab up` took. */
  upSeconds?: number;
}

export function readLabState(layout: LabLayout): LabState | undefined {
  try {
    const raw = JSON.parse(readFileSync(layout.stateFile, 'utf8')) as Partial<LabState>;
    if (typeof raw.base !== 'string') return undefined;
    return {
      base: raw.base,
      benchHosts: raw.benchHosts ?? 0,
      startedAt: raw.startedAt ?? '',
      upSeconds: raw.upSeconds,
    };
  } catch {
    return undefined;
  }
}

export async function writeLabState(layout: LabLayout, state: LabState): Promise<void> {
  await writeFile(layout.stateFile, JSON.stringify(state, null, 2) + '\n');
}

/** Host directories present on disk (hosts of this or an earlier, possibly crashed, run). */
export function hostDirsOnDisk(layout: LabLayout): string[] {
  if (!existsSync(layout.hostsDir)) return [];
  return readdirSync(layout.hostsDir).map((n) => join(layout.hostsDir, n));
}

/**
 * Runs `fn` holding the lab directory's lock (`.lock`, with the holder's PID), so that two
 * `lab up`/`lab down` on the same directory never interleave. A lock left by a dead process is
 * taken over; a live holder makes this throw at once with its PID.
 */
export async function withLabLock<T>(layout: LabLayout, fn: () => Promise<T>): Promise<T> {
  await mkdir(layout.dir, { recursive: true });
  const file = join(layout.dir, '.lock');
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw lockError(layout, file, e);
      const holder = readPidFile(file);
      if (isRunning(holder) && holder !== process.pid) throw lockError(layout, file, e, holder);
      await rm(file, { force: true });
    }
  }
  try {
    return await fn();
  } finally {
    await rm(file, { force: true });
  }
}

function lockError(layout: LabLayout, file: string, cause: unknown, holder?: number): LabError {
  return new LabError(
    holder
      ? `another lab command (pid ${holder}) is working on ${layout.dir}`
      : `cannot lock ${file}: ${(cause as Error).message}`,
    ['wait for it to finish, or pick another state directory with --dir'],
    cause,
  );
}
