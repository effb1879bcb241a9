/**
 * The switchover's fault matrix, on the lab, with live clients: a fault from FAULTS injected
 * when the run reaches a step. Every case must end done, rolled back exactly to the starting
 * state, or stopped in the safe state (exit 93); in every case every acknowledged write is in
 * the final master, and in the replica too where replication runs.
 *
 * CI runs a sample chosen by a seed that changes every run and is printed
 * (GALLEY_FAULT_SEED=N repeats one; GALLEY_FAULT_CASES=N sets the size, "all" the whole
 * matrix: `npm run test:faults`, and a list such as `SIGINT@3,authdns-stopped@10` those cells). GALLEY_FAULT_REPORT=FILE appends one JSON line per case.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkCaughtUp } from '../../src/actions/replication.js';
import { labEnv } from '../integration/actions/harness.js';
import { labConfig, labConfigPath } from '../integration/lab.js';
import { FAULTS, LabFaults, leaderOf, type Fault } from '../support/lab-faults.js';
import { clearLiveKeys, LiveWatcher, LiveWriter, lostWrites } from '../../src/lab/live-clients.js';
import { world, type WorldView as World } from '../support/switchover-world.js';
import { watchCli } from '../support/cli.js';

const config = labConfig();
const env = labEnv(config);
/** Every step of etcd.switchover (the run's "[n/19]" headers); a run with another count fails the case. */
const STEPS = 19;

/** A small deterministic generator (mulberry32), so that a printed seed repeats a sample. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const matrix = FAULTS.flatMap((fault) => Array.from({ length: STEPS }, (_, i) => ({ fault, step: i + 1 })));
const seed = Number(process.env.GALLEY_FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
const wanted = process.env.GALLEY_FAULT_CASES ?? '3';
// A list of cells (`SIGINT@3,authdns-stopped@10`) runs those; a number, a seeded sample of that size.
const listed = wanted.includes('@')
  ? wanted.split(',').map((c) => {
      const [fault, step] = c.trim().split('@');
      const found = matrix.find((m) => m.fault === fault && m.step === Number(step));
      if (!found)
        throw new Error(`GALLEY_FAULT_CASES: no case ${c} (faults: ${FAULTS.join(', ')}; steps 1-${STEPS})`);
      return found;
    })
  : undefined;
const size = wanted === 'all' ? matrix.length : Number(wanted);
const random = rng(seed);
const cases = listed ?? (wanted === 'all' ? matrix : [...matrix].sort(() => random() - 0.5).slice(0, size));
process.stderr.write(
  `\nswitchover fault matrix: seed ${seed} (GALLEY_FAULT_SEED=${seed} repeats it), ${cases.length} of ${matrix.length} cases: ${cases.map((c) => `${c.fault}@${c.step}`).join(', ')}\n`,
);

function other(dc: string): string {
  return config.datacenters.find((d) => d !== dc)!;
}

function masterOf(w: World): string | undefined {
  const rw = config.datacenters.filter((dc) => w[dc]!.mode === 'read-write' || w[dc]!.mode === 'mixed');
  return rw.length === 1 ? rw[0] : undefined;
}

/** Runs the built CLI in the background; calls `onStep(n, kill)` when the run prints step n's header. */
async function runSwitchover(
  args: string[],
  onStep: (n: number, kill: (s: NodeJS.Signals) => void) => void,
): Promise<{ code: number | null; out: string; runId?: string }> {
  const seen = new Set<number>();
  const r = await watchCli(args, {
    built: true,
    env: { GALLEY_CONFIG: labConfigPath(), GALLEY_STATE_DIR: stateDir },
    onOutput: (stdout, kill) => {
      for (const m of stdout.matchAll(/\[(\d+)\/\d+\]/g)) {
        const n = Number(m[1]);
        if (!seen.has(n)) {
          seen.add(n);
          onStep(n, kill);
        }
      }
    },
  }).done;
  return { code: r.code, out: r.out, runId: /run (\d{8}-\d{6}-[0-9a-f]{4})/.exec(r.out)?.[1] };
}

const stateDir = mkdtempSync(join(tmpdir(), 'galley-faults-'));

/** Injects a fault, by kind, for a switchover FROM → TO at a given step. */
async function inject(
  faults: LabFaults,
  fault: Fault,
  step: number,
  from: string,
  to: string,
  kill: (s: NodeJS.Signals) => void,
): Promise<string> {
  const r = config.replication!;
  // The mirror that runs (or will run next) at this step: into TO until it is stopped, then into FROM.
  const mirror = step <= 11 ? r.mirrors[to]! : r.mirrors[from]!;
  switch (fault) {
    case 'SIGINT':
    case 'SIGTERM':
      kill(fault);
      return `${fault} to the run`;
    case 'authdns-stopped':
      return faults.stopAuthdns(config.dns!.zones.wmnet!.servers[1]!.name);
    case 'from-leader-killed':
      return faults.killEtcd(await leaderOf(config, from));
    case 'to-leader-killed':
      return faults.killEtcd(await leaderOf(config, to));
    case 'mirror-target-killed':
      return faults.killEtcd(mirror.host);
    case 'mirror-sshd-killed':
      return faults.killSshd(mirror.host);
  }
}

/** Brings the lab back to a clean state: one master, replication out of it, TTL as found, no live keys. */
async function normalize(runId: string | undefined, w: World): Promise<void> {
  const master = masterOf(w);
  const clean =
    master &&
    w.conftoolTtl === 300 &&
    w.conftoolDc === master &&
    w[master]!.mirrorInto === 'inactive' &&
    w[other(master)]!.mirrorInto === 'active';
  if (clean) return;
  if (!runId) throw new Error(`the lab is not clean and no run to roll back: ${JSON.stringify(w)}`);
  const rb = await runSwitchover(['rollback', runId, '-y'], () => undefined);
  const after = await world(env);
  const m = masterOf(after);
  if (!(m && after.conftoolTtl === 300 && after.conftoolDc === m))
    throw new Error(
      `rollback ${runId} after the repair did not restore a clean lab (exit ${rb.code}):\n${rb.out.slice(-3000)}\n${JSON.stringify(after)}`,
    );
}

afterAll(async () => {
  await env.close();
});

describe('etcd.switchover under faults (a seeded sample of the matrix; npm run test:faults runs all)', () => {
  let start: World;
  beforeAll(async () => {
    start = await world(env);
  });

  test.each(cases)(
    '$fault at step $step: done, rolled back exactly, or stopped in the safe state; no acknowledged write lost',
    async ({ fault, step }) => {
      const before = await world(env);
      const from = masterOf(before);
      expect(from).toBeDefined();
      const to = other(from!);
      const faults = new LabFaults(config);
      const writers = [
        new LiveWriter(config, 'reresolve', { reresolve: 'on-refusal', intervalMs: 40 }).start(),
        new LiveWriter(config, 'strict-ttl', { reresolve: 'ttl', intervalMs: 40 }).start(),
      ];
      const watcher = new LiveWatcher(config, to).start();
      let injected = '';
      let run: Awaited<ReturnType<typeof runSwitchover>> | undefined;
      try {
        run = await runSwitchover(['etcd.switchover', '--from', from!, '--to', to, '-y'], (n, kill) => {
          if (n === step)
            void inject(faults, fault, step, from!, to, kill).then(
              (what) => (injected = what),
              (e) => (injected = `injection failed: ${String(e)}`),
            );
        });
      } finally {
        // Let the writers see the end state for a moment, then stop them.
        await new Promise((r) => setTimeout(r, 1500));
      }
      const records = await Promise.all(writers.map((w) => w.stop()));
      const seen = await watcher.stop();
      const acks = records.flatMap((r) => r.acks);
      const after = await world(env);
      const master = masterOf(after);
      const outcome =
        run.code === 0
          ? 'done'
          : run.code === 1 || run.code === 97
            ? 'rolled back'
            : run.code === 93
              ? 'stopped, exit 93'
              : `exit ${run.code}`;
      const lost = master ? await lostWrites(config, master, acks) : acks;
      let replicaLost: number | undefined;
      if (master && after[other(master)]!.mirrorInto === 'active') {
        await checkCaughtUp(env, master, other(master), 30_000).catch(() => undefined);
        replicaLost = (await lostWrites(config, other(master), acks)).length;
      }
      const line = {
        seed,
        fault,
        step,
        injected,
        outcome,
        exit: run.code,
        master,
        acks: acks.length,
        lost: lost.length,
        replicaLost,
        watcherMissed: acks.filter((a) => !seen.has(a.key)).length,
        from,
        to,
        // Why a run stopped with exit 93: the lines of its end screen that say what is left.
        ...(run.code === 93
          ? {
              left: run.out
                .split('\n')
                .filter((l) => /still applied|refused|✗|left/i.test(l))
                .slice(-6),
            }
          : {}),
      };
      process.stderr.write(`fault case ${JSON.stringify(line)}\n`);
      if (process.env.GALLEY_FAULT_REPORT)
        appendFileSync(process.env.GALLEY_FAULT_REPORT, `${JSON.stringify(line)}\n`);

      try {
        // The matrix covers every step: a cookbook that gained or lost steps must change STEPS.
        const counts = new Set([...run.out.matchAll(/\[\d+\/(\d+)\]/g)].map((m) => Number(m[1])));
        expect([...counts]).toEqual([STEPS]);
        expect([0, 1, 93, 97]).toContain(run.code);
        // Never both read-only, never both read-write: one master at every end.
        expect(master).toBeDefined();
        if (run.code === 0) {
          expect(after).toEqual({ ...before, [from!]: before[to], [to]: before[from!], conftoolDc: to });
        } else if (run.code === 1 || run.code === 97) {
          expect(after).toEqual(before);
        } else {
          expect(run.out).toMatch(/safe state|still applied/i);
          expect(after[other(master!)]!.mirrorInto).toBe('active');
        }
        expect(lost).toEqual([]);
        if (replicaLost !== undefined) expect(replicaLost).toBe(0);
        expect(acks.length).toBeGreaterThan(0);
      } catch (e) {
        throw new Error(
          `${fault} at step ${step} (${injected}): ${(e as Error).message}\n--- run output ---\n${run.out.slice(-4000)}`,
        );
      } finally {
        await faults.repair();
        await normalize(run.runId, await world(env));
        const m = masterOf(await world(env));
        if (m) await clearLiveKeys(config, m);
      }
    },
    420_000,
  );

  afterAll(async () => {
    // Leave the lab as the other tests expect it: the configured master is the master again.
    const w = await world(env);
    const m = masterOf(w);
    if (start && m && m !== masterOf(start)) {
      const back = await runSwitchover(
        ['etcd.switchover', '--from', m, '--to', other(m), '-y'],
        () => undefined,
      );
      if (back.code !== 0) throw new Error(`switching back to ${other(m)} failed:\n${back.out.slice(-3000)}`);
    }
  }, 240_000);
});
