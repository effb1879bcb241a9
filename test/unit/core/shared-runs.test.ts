import { describe, expect, test } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal } from '../../../src/core/journal.js';
import {
  catchUpShared,
  claimRun,
  JournalDivergedError,
  listSharedRuns,
  type RunCopy,
  SharedJournal,
  type SharedRunMeta,
} from '../../../src/core/shared-runs.js';

/** A shared copy in memory (the lab tests use etcd); `down` makes every request fail. */
class MemoryCopy implements RunCopy {
  down = false;
  readonly lines = new Map<string, string[]>();
  readonly metas = new Map<string, SharedRunMeta>();
  readonly alive = new Map<string, string>();
  constructor(readonly name: string) {}
  #check() {
    if (this.down) return Promise.reject(new Error(`${this.name} cannot be reached`));
    return Promise.resolve();
  }
  async putEntries(runId: string, firstSeq: number, lines: readonly string[]) {
    await this.#check();
    const all = this.lines.get(runId) ?? [];
    lines.forEach((l, i) => {
      const there = all[firstSeq - 1 + i];
      if (there !== undefined && there !== l) throw new JournalDivergedError(this.name, runId, firstSeq + i);
    });
    lines.forEach((l, i) => (all[firstSeq - 1 + i] = l));
    this.lines.set(runId, all);
  }
  async putMeta(meta: SharedRunMeta) {
    await this.#check();
    this.metas.set(meta.runId, meta);
  }
  async setHeartbeat(runId: string, owner: string) {
    await this.#check();
    this.alive.set(runId, owner);
  }
  async clearHeartbeat(runId: string) {
    await this.#check();
    this.alive.delete(runId);
  }
  async list() {
    await this.#check();
    return { metas: [...this.metas.values()], alive: Object.fromEntries(this.alive) };
  }
  async entries(runId: string) {
    await this.#check();
    return this.lines.get(runId);
  }
  async heartbeat(runId: string) {
    await this.#check();
    return this.alive.get(runId);
  }
  async remove(runId: string) {
    await this.#check();
    this.lines.delete(runId);
    this.metas.delete(runId);
  }
}

const tmp = () => mkdtempSync(join(tmpdir(), 'galley-shared-'));
const RUN = '20261201-230000-abcd';
const start = (host: string, pid = 4242) => ({
  type: 'run-start' as const,
  time: '2026-12-01T23:00:00.000Z',
  runId: RUN,
  cookbook: 'etcd.switchover',
  args: { from: 'codfw', to: 'eqiad' },
  user: 'alice',
  host,
  pid,
  dryRun: false,
  task: 'T1',
});

/** A journal with a shared copy, as the Runner's session wires it. */
function sharedJournal(stateDir: string, copies: RunCopy[], said: string[] = []) {
  const journal = new Journal(stateDir, RUN);
  const shared = new SharedJournal({
    stateDir,
    runId: RUN,
    copies,
    say: (l) => void said.push(l),
    retryMs: 20,
  });
  journal.onWrite = () => shared.notify();
  return { journal, shared, said };
}

describe('run journals shared between operator hosts', () => {
  test('every line written locally is copied, in order, to every copy, with a summary of the run', async () => {
    const a = new MemoryCopy('codfw');
    const b = new MemoryCopy('eqiad');
    const state = tmp();
    const { journal, shared } = sharedJournal(state, [a, b]);
    journal.write(start('cumin1002.eqiad.wmnet'));
    journal.write({ type: 'step', time: 't', step: 0, title: 'Check the clusters', status: 'done' });
    journal.write({ type: 'step', time: 't', step: 1, title: 'Lower the TTL', status: 'done' });
    expect(await shared.finish(2000)).toEqual([]);
    const local = readFileSync(journal.file, 'utf8').trim().split('\n');
    expect(a.lines.get(RUN)).toEqual(local);
    expect(b.lines.get(RUN)).toEqual(local);
    expect(a.metas.get(RUN)).toMatchObject({
      runId: RUN,
      cookbook: 'etcd.switchover',
      owner: 'alice@cumin1002.eqiad.wmnet [4242]',
      host: 'cumin1002.eqiad.wmnet',
      state: 'running',
      step: { number: 2, what: 'Lower the TTL: done' },
      entries: 3,
      task: 'T1',
    });
  });

  test('a copy that cannot be written is said to be behind once; the run goes on; it catches up when it answers', async () => {
    const a = new MemoryCopy('codfw');
    a.down = true;
    const state = tmp();
    const { journal, shared, said } = sharedJournal(state, [a]);
    journal.write(start('h'));
    journal.write({ type: 'step', time: 't', step: 0, title: 'one', status: 'done' });
    await new Promise((r) => setTimeout(r, 50));
    expect(said.filter((l) => l.includes('is behind'))).toHaveLength(1);
    expect(said[0]).toContain(
      `WARNING: the shared copy of run ${RUN} in etcd (codfw) is behind: codfw cannot be reached`,
    );
    expect(said[0]).toContain(`the run goes on with its local journal ${journal.file}`);
    expect(await shared.finish(100)).toEqual(['codfw']);
    expect(a.lines.get(RUN)).toBeUndefined();
    // Later, from any command on this host: the copy catches up.
    a.down = false;
    const lines: string[] = [];
    expect(await catchUpShared(state, [a], (l) => void lines.push(l))).toEqual([RUN]);
    expect(a.lines.get(RUN)).toEqual(readFileSync(journal.file, 'utf8').trim().split('\n'));
    expect(lines[0]).toContain(`the shared copy of run ${RUN} caught up in etcd (2 journal entries)`);
    expect(await catchUpShared(state, [a], () => undefined)).toEqual([]); // nothing left
  });

  test('a host whose attempt was taken over never overwrites the copy: its late lines stay local, and it says so', async () => {
    const a = new MemoryCopy('codfw');
    const stateA = tmp();
    // Host A's attempt: two lines reach the copy, then etcd stops answering and A dies.
    const first = sharedJournal(stateA, [a]);
    first.journal.write(start('cumin1002.eqiad.wmnet'));
    first.journal.write({ type: 'step', time: 't', step: 0, title: 'one', status: 'done' });
    for (let i = 0; i < 100 && (a.lines.get(RUN)?.length ?? 0) < 2; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(a.lines.get(RUN)).toHaveLength(2);
    a.down = true;
    first.journal.write({ type: 'step', time: 't', step: 1, title: 'two', status: 'done' });
    expect(await first.shared.finish(50)).toEqual(['codfw']);
    a.down = false;
    // Host B took the run over from the copy's two lines and went on: its lines come third.
    const taken = [...a.lines.get(RUN)!, JSON.stringify(start('cumin2002.codfw.wmnet', 77))];
    a.lines.set(RUN, taken);
    // A's next command catches up: it must not replace B's third line with its own.
    const said: string[] = [];
    expect(await catchUpShared(stateA, [a], (l) => void said.push(l))).toEqual([]);
    expect(a.lines.get(RUN)).toEqual(taken);
    expect(said.join('\n')).toContain(
      `the shared copy of run ${RUN} in etcd (codfw) holds another journal entry 3: the run went on from another operator host`,
    );
    // And it does not try again on every later command.
    expect(await catchUpShared(stateA, [a], (l) => void said.push(l))).toEqual([]);
    expect(said.filter((l) => l.includes('holds another journal entry'))).toHaveLength(1);
  });

  test('a replay of lines the copy already holds is harmless', async () => {
    const a = new MemoryCopy('codfw');
    await a.putEntries(RUN, 1, ['x', 'y']);
    await expect(a.putEntries(RUN, 1, ['x', 'y', 'z'])).resolves.toBeUndefined();
    await expect(a.putEntries(RUN, 2, ['other'])).rejects.toBeInstanceOf(JournalDivergedError);
    expect(a.lines.get(RUN)).toEqual(['x', 'y', 'z']);
  });

  test('a copy that comes back during the run catches up by itself, and says so', async () => {
    const a = new MemoryCopy('codfw');
    a.down = true;
    const { journal, shared, said } = sharedJournal(tmp(), [a]);
    journal.write(start('h'));
    await new Promise((r) => setTimeout(r, 30));
    a.down = false;
    await new Promise((r) => setTimeout(r, 80));
    expect(said.at(-1)).toContain(
      `the shared copy of run ${RUN} in etcd (codfw) caught up: 1 journal entries`,
    );
    expect(await shared.finish(500)).toEqual([]);
  });

  test('the heartbeat is set while the run lives and cleared at its end', async () => {
    const a = new MemoryCopy('codfw');
    const { journal, shared } = sharedJournal(tmp(), [a]);
    journal.write(start('h'));
    shared.startHeartbeat('alice@h [1]', 30_000);
    await new Promise((r) => setTimeout(r, 10));
    expect(a.alive.get(RUN)).toBe('alice@h [1]');
    await shared.finish(500);
    expect(a.alive.has(RUN)).toBe(false);
  });

  test('another host fetches the journal of a run it does not have, and takes it over once its heartbeat lapsed', async () => {
    const a = new MemoryCopy('codfw');
    const first = tmp();
    const { journal, shared } = sharedJournal(first, [a]);
    journal.write(start('cumin1002.eqiad.wmnet'));
    journal.write({ type: 'step', time: 't', step: 0, title: 'one', status: 'done' });
    await shared.finish(500);
    a.alive.set(RUN, 'alice@cumin1002.eqiad.wmnet [4242]'); // still beating: refused
    const other = tmp();
    const said: string[] = [];
    await expect(
      claimRun(other, RUN, { copies: [a], heartbeatTtlMs: 10_000, keepMs: 1 }, (l) => void said.push(l)),
    ).rejects.toThrow(
      `run ${RUN} is still running on cumin1002.eqiad.wmnet: alice@cumin1002.eqiad.wmnet [4242] (its heartbeat in etcd codfw is fresh)`,
    );
    a.alive.delete(RUN); // its process died: the heartbeat lapsed
    const claim = await claimRun(
      other,
      RUN,
      { copies: [a], heartbeatTtlMs: 10_000, keepMs: 1 },
      (l) => void said.push(l),
    );
    expect(claim.takeover).toEqual({
      from: 'alice@cumin1002.eqiad.wmnet [4242]',
      why: 'its heartbeat in etcd lapsed (last step 1)',
    });
    expect(readFileSync(join(other, 'runs', `${RUN}.jsonl`), 'utf8')).toBe(
      readFileSync(journal.file, 'utf8'),
    );
    expect(said.at(-1)).toContain(`journal of run ${RUN} fetched from etcd (codfw): 2 entries`);
  });

  test('a run of this host is not a takeover; without any copy reachable another host refuses to guess', async () => {
    const a = new MemoryCopy('codfw');
    const state = tmp();
    const { journal, shared } = sharedJournal(state, [a]);
    journal.write(start(hostname()));
    await shared.finish(500);
    expect(
      await claimRun(state, RUN, { copies: [a], heartbeatTtlMs: 1, keepMs: 1 }, () => undefined),
    ).toEqual({});
    const elsewhere = tmp();
    mkdirSync(join(elsewhere, 'runs'), { recursive: true });
    writeFileSync(
      join(elsewhere, 'runs', `${RUN}.jsonl`),
      `${JSON.stringify(start('cumin1002.eqiad.wmnet'))}\n`,
    );
    a.down = true;
    await expect(
      claimRun(elsewhere, RUN, { copies: [a], heartbeatTtlMs: 1, keepMs: 1 }, () => undefined),
    ).rejects.toThrow(
      /cannot tell whether alice@cumin1002\.eqiad\.wmnet \[4242\] still runs run .*: etcd cannot be reached/,
    );
  });

  test('the list is the union of the copies; runs older than keep whose owner is gone are pruned', async () => {
    const a = new MemoryCopy('codfw');
    const b = new MemoryCopy('eqiad');
    const meta = (runId: string, updated: string, entries = 3): SharedRunMeta => ({
      runId,
      cookbook: 'etcd.status',
      args: {},
      owner: 'a@h [1]',
      user: 'a',
      host: 'h',
      dryRun: false,
      state: 'done',
      entries,
      started: updated,
      updated,
    });
    const now = Date.parse('2026-12-01T00:00:00Z');
    a.metas.set('20261130-000000-aaaa', meta('20261130-000000-aaaa', '2026-11-30T00:00:00Z', 2));
    b.metas.set('20261130-000000-aaaa', meta('20261130-000000-aaaa', '2026-11-30T00:00:00Z', 5));
    b.metas.set('20261001-000000-bbbb', meta('20261001-000000-bbbb', '2026-10-01T00:00:00Z'));
    b.lines.set('20261001-000000-bbbb', ['{}']);
    const r = await listSharedRuns({ copies: [a, b], heartbeatTtlMs: 1, keepMs: 30 * 86_400_000 }, now);
    expect(r.runs.map((x) => [x.runId, x.entries, x.copies])).toEqual([
      ['20261130-000000-aaaa', 5, ['codfw', 'eqiad']],
    ]);
    expect(r.pruned).toEqual(['20261001-000000-bbbb']);
    expect(b.lines.has('20261001-000000-bbbb')).toBe(false);
    a.down = true;
    expect(
      (await listSharedRuns({ copies: [a, b], heartbeatTtlMs: 1, keepMs: 1e12 }, now)).unreachable,
    ).toEqual(['codfw: codfw cannot be reached']);
  });
});
