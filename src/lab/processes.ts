/**
 * Processes of the lab, by PID: state from /proc (a zombie counts as stopped), the mount
 * namespace a process lives in, and signalling with a deadline.
 */
import { readFileSync, readlinkSync } from 'node:fs';

export type ProcessState = 'running' | 'zombie' | 'gone';

/** State of a process from /proc/PID/stat: a zombie holds no port and counts as stopped. */
export function processState(pid: number): ProcessState {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 'gone';
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state === 'Z' || state === 'X' ? 'zombie' : 'running';
}

export function isRunning(pid: number | undefined): pid is number {
  return pid !== undefined && pid > 0 && processState(pid) === 'running';
}

/** The command name of a process (`etcd`, `nginx`, …), or undefined when it is gone. */
export function processName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The mount namespace of a process (`mnt:[4026532…]`), or undefined. */
export function mountNamespace(pid: number | 'self'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

/** Reads a PID file; undefined when missing or not a number. */
export function readPidFile(file: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits until none of `pids` is running (zombies count as stopped); returns those still running at the deadline. */
export async function waitStopped(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let left = pids.filter(isRunning);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(20);
    left = left.filter(isRunning);
  }
  return left;
}
