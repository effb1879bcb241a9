/**
 * `lab down`: stops, by PID, every process of the lab — everything living in a lab host's
 * mount namespace (daemons, SSH sessions, whatever was started over SSH) and knot — and
 * checks that no listener is left on the lab's addresses.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LabLayout } from './layout.js';
import { currentListeners } from './ports.js';
import { mountNamespace, processName, processState, readPidFile, signal, waitStopped } from './processes.js';
import { monitoringProcesses } from './monitoring.js';
import { hostDirsOnDisk, readLabState } from './state.js';

export interface LabProcess {
  pid: number;
  name: string;
  /** The host directory it belongs to, or `knot`. */
  owner: string;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The knot server of this lab, if its PID file names a live knotd reading this lab's config. */
export function knotProcess(layout: LabLayout): LabProcess | undefined {
  const pid = readPidFile(layout.knotPidFile);
  if (pid === undefined || processState(pid) !== 'running' || processName(pid) !== 'knotd') return undefined;
  const cmdline = readText(`/proc/${pid}/cmdline`) ?? '';
  return cmdline.includes(layout.knotDir) ? { pid, name: 'knotd', owner: 'knot' } : undefined;
}

/**
 * Every live process of the lab. A process belongs to a host when it lives in the mount
 * namespace the host recorded at boot AND that namespace has the host's directories mounted
 * (so a namespace number reused by someone else after a crash is never mistaken for ours).
 */
export function labProcesses(layout: LabLayout): LabProcess[] {
  const own = new Set([mountNamespace('self'), mountNamespace(1)]);
  const owners = new Map<string, string>();
  for (const dir of hostDirsOnDisk(layout)) {
    const ns = readText(join(dir, 'mntns'))?.trim();
    if (ns && !own.has(ns)) owners.set(ns, dir);
  }
  const found: LabProcess[] = [];
  const verified = new Map<string, boolean>();
  if (owners.size > 0) {
    for (const entry of readdirSafe('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const pid = Number(entry);
      const ns = mountNamespace(pid);
      const dir = ns ? owners.get(ns) : undefined;
      if (!ns || !dir || processState(pid) !== 'running') continue;
      if (!verified.has(ns)) verified.set(ns, (readText(`/proc/${pid}/mountinfo`) ?? '').includes(`${dir}/`));
      if (verified.get(ns)) found.push({ pid, name: processName(pid) ?? '?', owner: dir });
    }
  }
  const knot = knotProcess(layout);
  if (knot) found.push(knot);
  found.push(...monitoringProcesses(layout));
  return found;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export interface LabDownResult {
  stopped: number;
  /** Listeners still present on the lab's addresses (should be none). */
  leftoverListeners: string[];
  /** Processes that did not stop (should be none). */
  leftoverProcesses: LabProcess[];
}

/**
 * Stops the lab: SIGKILL for etcd (stopping all members with SIGTERM can hang a leader),
 * SIGTERM for the rest (never SIGKILL an nginx master first: its workers would keep the
 * port), then SIGKILL whatever is left after a short grace.
 */
export async function stopLab(layout: LabLayout, graceMs = 1200): Promise<LabDownResult> {
  const procs = labProcesses(layout);
  for (const p of procs) signal(p.pid, p.name === 'etcd' ? 'SIGKILL' : 'SIGTERM');
  let left = await waitStopped(
    procs.map((p) => p.pid),
    graceMs,
  );
  if (left.length) {
    for (const pid of left) signal(pid, 'SIGKILL');
    left = await waitStopped(left, 500);
  }
  // Anything started meanwhile in a host (an SSH session racing with us) goes too.
  const late = labProcesses(layout).filter((p) => !procs.some((q) => q.pid === p.pid));
  for (const p of late) signal(p.pid, 'SIGKILL');
  left = [
    ...left,
    ...(await waitStopped(
      late.map((p) => p.pid),
      500,
    )),
  ];
  const state = readLabState(layout);
  let leftoverListeners: string[] = [];
  if (state) {
    const prefix = `${state.base}.`;
    leftoverListeners = (await currentListeners())
      .filter((l) => l.address.startsWith(prefix))
      .map((l) => `${l.address}:${l.port}/${l.proto}`);
  }
  return {
    stopped: procs.length + late.length,
    leftoverListeners,
    leftoverProcesses: procs.concat(late).filter((p) => left.includes(p.pid)),
  };
}
