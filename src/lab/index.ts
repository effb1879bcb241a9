/**
 * The lab's library entry points, shared by the `cookbook lab …` commands and the tests.
 */
import { stopLab, type LabDownResult } from './down.js';
import { LabError } from './errors.js';
import { DEFAULT_LAB_BASE, DEFAULT_LAB_DIR, LabLayout } from './layout.js';
import { labStatus as readStatus, type LabStatusReport } from './status.js';
import { checkPrerequisites } from './prerequisites.js';
import { withLabLock } from './state.js';
import { labUp as bringUp, type LabOptions, type LabUpResult } from './up.js';

export type { LabDownResult, LabOptions, LabStatusReport, LabUpResult };
export { LabError };

/** Options with the defaults filled in from the environment (GALLEY_LAB_DIR, GALLEY_LAB_BASE). */
export function resolveLabOptions(
  o: Partial<LabOptions> = {},
  env: NodeJS.ProcessEnv = process.env,
): LabOptions {
  return {
    ...o,
    dir: o.dir ?? env.GALLEY_LAB_DIR ?? DEFAULT_LAB_DIR,
    base: o.base ?? env.GALLEY_LAB_BASE ?? DEFAULT_LAB_BASE,
  };
}

/** Brings the lab up (idempotent) and writes its environment files. */
export async function labUp(o: Partial<LabOptions> = {}): Promise<LabUpResult> {
  const opts = resolveLabOptions(o);
  checkPrerequisites();
  return withLabLock(new LabLayout(opts.dir), () => bringUp(opts));
}

/** Stops every process of the lab by PID; throws if a process or a listener is left behind. */
export async function labDown(o: Partial<LabOptions> = {}): Promise<LabDownResult> {
  const opts = resolveLabOptions(o);
  if (process.getuid?.() !== 0)
    throw new LabError('stopping the lab needs root', ['run it as root: sudo -E cookbook lab down']);
  const layout = new LabLayout(opts.dir);
  const result = await withLabLock(layout, () => stopLab(layout));
  if (result.leftoverProcesses.length || result.leftoverListeners.length) {
    const what = [
      ...result.leftoverProcesses.map((p) => `${p.name} (pid ${p.pid})`),
      ...result.leftoverListeners.map((l) => `listener ${l}`),
    ];
    throw new LabError(`the lab did not stop completely: ${what.join(', ')} left`, [
      'run `cookbook lab down` again, then check with ss -ltnup',
    ]);
  }
  return result;
}

/** The lab's facts and which of its processes run. */
export function labStatus(o: Partial<LabOptions> = {}): LabStatusReport {
  return readStatus(resolveLabOptions(o));
}
