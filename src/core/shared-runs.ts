/**
 * Run journals shared between operator hosts. The local journal stays the first record
 * (written first and fsynced, see ./journal.ts); every line is then copied, in the
 * background, to each shared copy (an etcd cluster: src/etcd/run-store.ts), with a summary
 * of the run (owner, state, current step) and, while the run lives, a heartbeat key with a
 * TTL. A copy that cannot be written makes the run say once that the shared copy is behind;
 * it catches up by itself when the copy answers again, or later from any command that
 * reads runs on this host (the counts pushed are kept in the state directory,
 * `shared/RUN.json`).
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { formatError, GalleyError, UsageError } from './errors.js';
import {
  checkRunId,
  type JournalEntry,
  type RunOutcome,
  privateDir,
  RUN_ID_PATTERN,
  runsDir,
  summarize,
} from './journal.js';

/** What `cookbook runs` shows of a run from any host, kept beside its shared journal. */
export interface SharedRunMeta {
  runId: string;
  cookbook: string;
  args: Record<string, string | undefined>;
  /** `user@host [pid]` of the attempt that wrote last. */
  owner: string;
  user: string;
  host: string;
  task?: string;
  reason?: string;
  dryRun: boolean;
  /** `running` until the last attempt ends, then its outcome. */
  state: RunOutcome | 'running';
  exitCode?: number;
  /** The step the run is at (1-based) and what it was doing there. */
  step?: { number: number; what: string };
  entries: number;
  started: string;
  updated: string;
  /** Attempts that took the run over from another operator host. */
  takeovers?: number;
}

/**
 * A shared copy already holds another line at a place this host would write: the run went on
 * from another operator host (a takeover) after this host's attempt stopped writing there.
 */
export class JournalDivergedError extends GalleyError {
  constructor(
    readonly copy: string,
    readonly runId: string,
    readonly seq: number,
  ) {
    super(
      `the shared copy of run ${runId} in etcd (${copy}) holds another journal entry ${seq}: the run went on from another operator host; this host's entries from ${seq} on stay in its local journal only`,
    );
  }
}

/** One shared copy of the journals (an etcd cluster). Requests are bounded by the store's timeout. */
export interface RunCopy {
  readonly name: string;
  /**
   * Writes lines `firstSeq`, `firstSeq + 1`… of a run's journal. A line already there with the
   * same text is fine (a replay); with another text the copy went on elsewhere (the run was taken
   * over by another operator host) and it throws {@link JournalDivergedError}, changing nothing.
   */
  putEntries(runId: string, firstSeq: number, lines: readonly string[]): Promise<void>;
  putMeta(meta: SharedRunMeta): Promise<void>;
  /** Sets the run's heartbeat key (value: its owner) with a TTL. */
  setHeartbeat(runId: string, owner: string, ttlMs: number): Promise<void>;
  clearHeartbeat(runId: string): Promise<void>;
  /** Every run's summary, and the owners of the runs whose heartbeat is fresh. */
  list(): Promise<{ metas: SharedRunMeta[]; alive: Record<string, string> }>;
  /** A run's journal lines in order, or undefined when this copy does not have it. */
  entries(runId: string): Promise<string[] | undefined>;
  /** Whether the run's heartbeat is fresh (its owner still runs it), and by whom. */
  heartbeat(runId: string): Promise<string | undefined>;
  remove(runId: string): Promise<void>;
  close?(): void;
}

/** Where runs are shared, as the CLI builds it from the `runs` section. */
export interface SharedRuns {
  copies: RunCopy[];
  heartbeatTtlMs: number;
  keepMs: number;
}

/** The complete lines of a journal file (a torn last line is left for later). */
export function journalLines(file: string): string[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  lines.pop(); // after the last newline: empty, or a line still being written
  return lines.filter((l) => l.trim());
}

function parseLines(lines: readonly string[]): JournalEntry[] {
  const out: JournalEntry[] = [];
  for (const l of lines) {
    try {
      out.push(JSON.parse(l) as JournalEntry);
    } catch {
      // a corrupt line is the local reader's business; the summary skips it
    }
  }
  return out;
}

/** The summary of a run from its journal entries. */
export function metaOf(entries: readonly JournalEntry[], now = new Date()): SharedRunMeta | undefined {
  const s = summarize([...entries]);
  const starts = entries.filter((e) => e.type === 'run-start');
  const last = starts[starts.length - 1];
  if (!s || !last || last.type !== 'run-start') return undefined;
  let step: SharedRunMeta['step'];
  for (const e of entries.slice(entries.lastIndexOf(last))) {
    if (e.type === 'step') step = { number: e.step + 1, what: `${e.title}: ${e.status}` };
    if (e.type === 'action') step = { number: e.step + 1, what: `${e.summary}: ${e.status}` };
  }
  return {
    runId: s.runId,
    cookbook: s.cookbook,
    args: s.args,
    owner: `${last.user}@${last.host} [${last.pid}]`,
    user: last.user,
    host: last.host,
    ...(s.task ? { task: s.task } : {}),
    ...(s.reason ? { reason: s.reason } : {}),
    dryRun: s.dryRun,
    state: s.outcome === 'running-or-crashed' ? 'running' : s.outcome,
    ...(s.exitCode !== undefined ? { exitCode: s.exitCode } : {}),
    ...(step ? { step } : {}),
    entries: entries.length,
    started: s.start,
    updated: now.toISOString(),
    ...(entries.some((e) => e.type === 'takeover')
      ? { takeovers: entries.filter((e) => e.type === 'takeover').length }
      : {}),
  };
}

type Marker = Record<string, number>;

/** How many lines of a run's journal each shared copy holds: `shared/RUN.json` in the state directory. */
function markerFile(stateDir: string, runId: string): string {
  return join(privateDir(join(stateDir, 'shared')), `${runId}.json`);
}

function readMarker(file: string): Marker {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return typeof v === 'object' && v !== null ? (v as Marker) : {};
  } catch {
    return {};
  }
}

/**
 * The shared copies of one run's journal: {@link notify} after each local write pushes the
 * new lines in the background (one push at a time per copy); {@link flush} waits a bounded
 * time for the copies to catch up. Never throws into the run.
 */
export class SharedJournal {
  readonly #marker: Marker;
  readonly #markerFile: string;
  readonly #file: string;
  readonly #behind = new Map<string, string>();
  readonly #draining = new Map<string, Promise<void>>();
  readonly #again = new Set<string>();
  /** Copies that went on from another operator host (a takeover): nothing more is pushed there. */
  readonly #diverged = new Map<string, string>();
  #retry: ReturnType<typeof setTimeout> | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  /** After finish(): no more pushes or retries (a copy still behind catches up from a later command). */
  #closed = false;

  constructor(
    readonly o: {
      stateDir: string;
      runId: string;
      copies: readonly RunCopy[];
      /** Where "behind" and "caught up" lines go (the operator's stderr). */
      say: (line: string) => void;
      retryMs?: number;
    },
  ) {
    this.#file = join(runsDir(o.stateDir), `${o.runId}.jsonl`);
    this.#markerFile = markerFile(o.stateDir, o.runId);
    this.#marker = readMarker(this.#markerFile);
    for (const c of o.copies) this.#marker[c.name] ??= 0;
    this.#saveMarker();
  }

  /** The copies that hold another journal than this host's from some entry on, with why. */
  get diverged(): ReadonlyMap<string, string> {
    return this.#diverged;
  }

  /** The copies that are behind the local journal, with the last error of each. */
  get behind(): ReadonlyMap<string, string> {
    return this.#behind;
  }

  /** New lines were written locally: push them (in the background). */
  notify(): void {
    for (const c of this.o.copies) this.#drain(c);
  }

  /** Keeps the run's heartbeat fresh in every copy while it runs (refreshed every third of the TTL). */
  startHeartbeat(owner: string, ttlMs: number): void {
    const beat = () => {
      if (this.#closed) return;
      for (const c of this.o.copies) c.setHeartbeat(this.o.runId, owner, ttlMs).catch(() => undefined);
    };
    beat();
    this.#heartbeat = setInterval(beat, Math.max(500, Math.floor(ttlMs / 3)));
    this.#heartbeat.unref();
  }

  /**
   * Ends the heartbeat and waits up to `timeoutMs` for every copy to hold the whole journal.
   * Returns the copies still behind (they catch up from the next command on this host).
   */
  async finish(timeoutMs: number): Promise<string[]> {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.notify();
    const settled = Promise.allSettled([
      ...this.o.copies.map((c) => c.clearHeartbeat(this.o.runId)),
      this.#idle(),
    ]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([settled, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    const lines = journalLines(this.#file).length;
    const behind = this.o.copies
      .filter((c) => !this.#diverged.has(c.name) && (this.#marker[c.name] ?? 0) < lines)
      .map((c) => c.name);
    // Complete everywhere: nothing left to catch up (a later attempt starts a new count).
    if (!behind.length) rmSync(this.#markerFile, { force: true });
    return behind;
  }

  async #idle(): Promise<void> {
    while (this.#draining.size) await Promise.allSettled([...this.#draining.values()]);
  }

  #drain(copy: RunCopy): void {
    if (this.#closed || this.#diverged.has(copy.name)) return;
    if (this.#draining.has(copy.name)) {
      this.#again.add(copy.name);
      return;
    }
    const p = this.#push(copy).finally(() => {
      this.#draining.delete(copy.name);
      if (this.#again.delete(copy.name)) this.#drain(copy);
    });
    this.#draining.set(copy.name, p);
  }

  async #push(copy: RunCopy): Promise<void> {
    const lines = journalLines(this.#file);
    const sent = Math.min(this.#marker[copy.name] ?? 0, lines.length);
    try {
      if (sent < lines.length) await copy.putEntries(this.o.runId, sent + 1, lines.slice(sent));
      const meta = metaOf(parseLines(lines));
      if (meta && sent < lines.length) await copy.putMeta(meta);
      this.#marker[copy.name] = lines.length;
      this.#saveMarker();
      if (this.#behind.delete(copy.name))
        this.o.say(
          `  ✓ the shared copy of run ${this.o.runId} in etcd (${copy.name}) caught up: ${lines.length} journal entries`,
        );
    } catch (e) {
      if (e instanceof JournalDivergedError) {
        // Never overwrite what another host wrote after taking the run over.
        this.#diverged.set(copy.name, e.message);
        this.#behind.delete(copy.name);
        this.o.say(`WARNING: ${e.message}`);
        return;
      }
      if (!this.#behind.has(copy.name))
        this.o.say(
          `WARNING: the shared copy of run ${this.o.runId} in etcd (${copy.name}) is behind: ${formatError(e).split('\n')[0]}; the run goes on with its local journal ${this.#file}, and the shared copy catches up when etcd answers again`,
        );
      this.#behind.set(copy.name, formatError(e));
      if (this.#closed) return;
      this.#retry ??= setTimeout(() => {
        this.#retry = undefined;
        this.notify();
      }, this.o.retryMs ?? 3000);
      this.#retry.unref();
    }
  }

  #saveMarker(): void {
    writeFileSync(this.#markerFile, `${JSON.stringify(this.#marker)}\n`, { mode: 0o600 });
  }
}

/**
 * Pushes what the shared copies lack of every journal of this state directory (runs whose
 * copy fell behind while etcd was unreachable). Returns the run ids caught up.
 */
export async function catchUpShared(
  stateDir: string,
  copies: readonly RunCopy[],
  say: (line: string) => void,
  timeoutMs = 5000,
): Promise<string[]> {
  const dir = join(stateDir, 'shared');
  if (!copies.length || !existsSync(dir)) return [];
  const caught: string[] = [];
  for (const f of readdirSync(dir)) {
    const m = /^(.+)\.json$/.exec(f);
    if (!m || !RUN_ID_PATTERN.test(m[1]!)) continue;
    const runId = m[1]!;
    const marker = readMarker(join(dir, f));
    const lines = journalLines(join(stateDir, 'runs', `${runId}.jsonl`)).length;
    if (!copies.some((c) => (marker[c.name] ?? 0) < lines)) continue;
    const shared = new SharedJournal({ stateDir, runId, copies, say: () => undefined, retryMs: 60_000 });
    shared.notify();
    const behind = await shared.finish(timeoutMs);
    for (const why of shared.diverged.values()) say(`WARNING: ${why}`);
    if (shared.diverged.size) rmSync(join(dir, f), { force: true });
    else if (!behind.length) {
      caught.push(runId);
      say(`  ✓ the shared copy of run ${runId} caught up in etcd (${lines} journal entries)`);
    }
  }
  return caught;
}

/** What taking a run over from another operator host found. */
export interface Takeover {
  /** The owner of the earlier attempt (`user@host [pid]`). */
  from: string;
  why: string;
}

/**
 * Before a resume or a rollback: makes sure this host has the run's whole journal (fetched
 * from the shared copy when this host has less of it, written and fsynced as the local
 * record), then checks that the attempt that wrote last is not running any more. On this
 * host that is its process (see session.ts runningOwner); on another host it is its
 * heartbeat in etcd, which lapses a TTL after its process died. A run last written by
 * another host is taken over: the caller records the takeover in the journal and the audit.
 * Throws UsageError (exit 2) when the run is unknown or its owner still runs it.
 */
export async function claimRun(
  stateDir: string,
  runId: string,
  shared: SharedRuns | undefined,
  say: (line: string) => void,
): Promise<{ takeover?: Takeover }> {
  checkRunId(runId);
  const file = join(runsDir(stateDir), `${runId}.jsonl`);
  let lines = journalLines(file);
  const reached: RunCopy[] = [];
  const unreachable: string[] = [];
  if (shared?.copies.length) {
    let best: { copy: RunCopy; lines: string[] } | undefined;
    for (const copy of shared.copies) {
      try {
        const remote = await copy.entries(runId);
        reached.push(copy);
        if (remote && remote.length > (best?.lines.length ?? lines.length)) best = { copy, lines: remote };
      } catch (e) {
        unreachable.push(`${copy.name} (${formatError(e).split('\n')[0]})`);
      }
    }
    if (best) {
      writeJournalCopy(file, best.lines);
      const marker: Marker = {};
      for (const c of shared.copies) marker[c.name] = c === best.copy ? best.lines.length : 0;
      writeFileSync(markerFile(stateDir, runId), `${JSON.stringify(marker)}\n`, { mode: 0o600 });
      say(`  ⇣ journal of run ${runId} fetched from etcd (${best.copy.name}): ${best.lines.length} entries`);
      lines = best.lines;
    }
  }
  if (!lines.length) return {}; // unknown here and in etcd: the journal reader says so
  const entries = parseLines(lines);
  const meta = metaOf(entries);
  if (!meta || meta.host === hostname()) return {};
  if (meta.state === 'running') {
    if (!reached.length)
      throw new UsageError(
        `cannot tell whether ${meta.owner} still runs run ${runId}: etcd cannot be reached (${unreachable.join('; ')})`,
        ['try again once etcd answers, or from the host that ran it'],
      );
    for (const copy of reached) {
      const alive = await copy.heartbeat(runId).catch(() => undefined);
      if (alive)
        throw new UsageError(
          `run ${runId} is still running on ${meta.host}: ${alive} (its heartbeat in etcd ${copy.name} is fresh)`,
          [
            `wait for it to end or stop it there; once its process is gone its heartbeat lapses within ${Math.round((shared?.heartbeatTtlMs ?? 0) / 1000)}s and this host can take it over`,
          ],
        );
    }
    return {
      takeover: {
        from: meta.owner,
        why: `its heartbeat in etcd lapsed (last step ${meta.step?.number ?? '?'})`,
      },
    };
  }
  return { takeover: { from: meta.owner, why: `its last attempt ended ${meta.state} on ${meta.host}` } };
}

/** Writes a journal fetched from a shared copy as this host's local record (0600, fsynced). */
function writeJournalCopy(file: string, lines: readonly string[]): void {
  const fd = openSync(file, 'w', 0o600);
  try {
    writeSync(fd, lines.map((l) => `${l}\n`).join(''));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Every run the shared copies know (the union: a run seen by several copies is shown from
 * the one with the most entries), with whether its heartbeat is fresh, plus the copies that
 * could not be read. Runs older than `keepMs` whose owner is gone are pruned from every copy.
 */
export async function listSharedRuns(
  shared: SharedRuns,
  now = Date.now(),
): Promise<{
  runs: (SharedRunMeta & { alive: boolean; copies: string[] })[];
  unreachable: string[];
  pruned: string[];
}> {
  const byId = new Map<string, SharedRunMeta & { alive: boolean; copies: string[] }>();
  const unreachable: string[] = [];
  const old = new Set<string>();
  for (const copy of shared.copies) {
    let listing: Awaited<ReturnType<RunCopy['list']>>;
    try {
      listing = await copy.list();
    } catch (e) {
      unreachable.push(`${copy.name}: ${formatError(e).split('\n')[0]}`);
      continue;
    }
    for (const m of listing.metas) {
      const alive = Boolean(listing.alive[m.runId]);
      const prev = byId.get(m.runId);
      if (!prev || m.entries > prev.entries)
        byId.set(m.runId, {
          ...m,
          alive: alive || Boolean(prev?.alive),
          copies: [...(prev?.copies ?? []), copy.name],
        });
      else {
        prev.copies.push(copy.name);
        prev.alive ||= alive;
      }
      if (!alive && now - Date.parse(m.updated) > shared.keepMs) old.add(m.runId);
    }
  }
  const pruned: string[] = [];
  for (const runId of old) {
    const r = byId.get(runId);
    if (r?.alive) continue;
    const results = await Promise.allSettled(shared.copies.map((c) => c.remove(runId)));
    if (results.every((x) => x.status === 'fulfilled')) pruned.push(runId);
    byId.delete(runId);
  }
  const runs = [...byId.values()].sort((a, b) => (a.started < b.started ? 1 : -1));
  return { runs, unreachable, pruned };
}
