import { ancestorsOf } from './keys.js';

interface Job<T> {
  readonly index: number;
  readonly key: string | undefined;
  readonly payload: T | undefined;
  ancestors: string[];
  waitingFor: number;
  readonly dependents: Job<T>[];
  isDone: boolean;
}

/** How the scheduler runs a job and reports. */
export interface SchedulerOptions<T> {
  /** Jobs in flight at most. */
  concurrency: number;
  /** Applies one job; a rejection stops the scheduler. */
  run: (payload: T) => Promise<void>;
  /** Called once, with the first failure. */
  onError: (error: unknown) => void;
  /** Called when the watermark moves up. */
  onWatermark?: (watermark: number) => void;
}

/**
 * Runs the events of a stream concurrently while keeping every order that matters: an event
 * starts only after every earlier event on the same key, on any of its ancestors, and on any key
 * below it has finished. A directory delete therefore is a full barrier for its subtree, and a
 * key is never written while a write to its parent is pending. Independent keys run in parallel,
 * up to `concurrency` at once.
 *
 * The watermark is the highest index such that every event received up to it has been applied
 * (index gaps are normal in etcd: refreshes and hidden keys leave them).
 */
export class OrderedScheduler<T> {
  readonly #options: SchedulerOptions<T>;
  /** Unfinished jobs by exact key. */
  readonly #exact = new Map<string, Set<Job<T>>>();
  /** The latest unfinished job of each tracked key: what a later job on a related key waits for. */
  readonly #latest = new Map<string, Job<T>>();
  /** For each path, the tracked keys strictly below it. */
  readonly #below = new Map<string, Set<string>>();
  /** Unfinished jobs in index order (the watermark is just below the first). */
  #order: Job<T>[] = [];
  #orderHead = 0;
  #ready: Job<T>[] = [];
  #readyHead = 0;
  #running = 0;
  #watermark: number;
  #receivedUpTo: number;
  #isStopped = false;
  #idleWaiters: (() => void)[] = [];

  constructor(startIndex: number, options: SchedulerOptions<T>) {
    this.#options = options;
    this.#watermark = startIndex;
    this.#receivedUpTo = startIndex;
  }

  /** Every event up to this index has been applied. */
  get watermark(): number {
    return this.#watermark;
  }

  /** The highest index received. */
  get receivedUpTo(): number {
    return this.#receivedUpTo;
  }

  /** Events received and not finished yet. */
  get pending(): number {
    return this.#order.length - this.#orderHead;
  }

  get running(): number {
    return this.#running;
  }

  /** Payloads of unfinished jobs on exactly this key, in index order. */
  pendingOn(key: string): T[] {
    const s = this.#exact.get(key);
    const out: T[] = [];
    if (s) for (const j of s) if (j.payload !== undefined) out.push(j.payload);
    return out;
  }

  /**
   * Adds the next event (indexes must increase). `key` undefined: an event that needs no write
   * (ignored or hidden); it only moves the watermark, in order.
   */
  push(index: number, key: string | undefined, payload: T | undefined): void {
    if (index <= this.#receivedUpTo)
      throw new Error(`event index ${index} is not after ${this.#receivedUpTo}`);
    this.#receivedUpTo = index;
    const job: Job<T> = {
      index,
      key,
      payload,
      ancestors: [],
      waitingFor: 0,
      dependents: [],
      isDone: key === undefined,
    };
    this.#order.push(job);
    if (key !== undefined) {
      const deps = new Set<Job<T>>();
      const same = this.#latest.get(key);
      if (same) deps.add(same);
      const ancestors = ancestorsOf(key);
      job.ancestors = ancestors;
      for (const a of ancestors) {
        const on = this.#latest.get(a);
        if (on) deps.add(on);
      }
      const below = this.#below.get(key);
      if (below) {
        // every job below waits for this one or already ran before it: this job now stands for them
        for (const d of [...below]) {
          deps.add(this.#latest.get(d)!);
          this.#untrack(d);
        }
      }
      for (const d of deps) d.dependents.push(job);
      job.waitingFor = deps.size;
      this.#latest.set(key, job);
      for (const a of ancestors) addTo(this.#below, a, key);
      addTo(this.#exact, key, job);
      if (job.waitingFor === 0) this.#ready.push(job);
      this.#pump();
    } else {
      this.#advance();
    }
  }

  /** No event exists in (receivedUpTo, index]: the watermark may move up to it once all is applied. */
  markReceivedUpTo(index: number): void {
    if (index > this.#receivedUpTo) {
      this.#receivedUpTo = index;
      this.#advance();
    }
  }

  /** Starts nothing more. */
  stop(): void {
    this.#isStopped = true;
  }

  /** Resolves when nothing is pending (or the scheduler stopped and nothing runs). */
  whenIdle(): Promise<void> {
    if (this.pending === 0 || (this.#isStopped && this.#running === 0)) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #pump(): void {
    while (
      !this.#isStopped &&
      this.#running < this.#options.concurrency &&
      this.#readyHead < this.#ready.length
    ) {
      const job = this.#ready[this.#readyHead++]!;
      if (this.#readyHead > 1024 && this.#readyHead * 2 > this.#ready.length) {
        this.#ready = this.#ready.slice(this.#readyHead);
        this.#readyHead = 0;
      }
      this.#running++;
      this.#options.run(job.payload as T).then(
        () => this.#finish(job),
        (e: unknown) => {
          this.#running--;
          if (!this.#isStopped) {
            this.#isStopped = true;
            this.#options.onError(e);
          }
          this.#notifyIdle();
        },
      );
    }
  }

  #finish(job: Job<T>): void {
    this.#running--;
    job.isDone = true;
    const key = job.key as string;
    if (this.#latest.get(key) === job) this.#untrack(key, job.ancestors);
    removeFrom(this.#exact, key, job);
    for (const d of job.dependents) {
      d.waitingFor--;
      if (d.waitingFor === 0) this.#ready.push(d);
    }
    this.#advance();
    this.#pump();
  }

  #untrack(key: string, ancestors: string[] = ancestorsOf(key)): void {
    this.#latest.delete(key);
    for (const a of ancestors) removeFrom(this.#below, a, key);
  }

  #advance(): void {
    const before = this.#watermark;
    while (this.#orderHead < this.#order.length && this.#order[this.#orderHead]!.isDone) {
      this.#watermark = this.#order[this.#orderHead]!.index;
      this.#orderHead++;
    }
    if (this.#orderHead === this.#order.length) {
      this.#order = [];
      this.#orderHead = 0;
      this.#watermark = this.#receivedUpTo;
    } else if (this.#orderHead > 1024 && this.#orderHead * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#orderHead);
      this.#orderHead = 0;
    }
    if (this.#watermark > before) this.#options.onWatermark?.(this.#watermark);
    this.#notifyIdle();
  }

  #notifyIdle(): void {
    if (this.#idleWaiters.length && (this.pending === 0 || (this.#isStopped && this.#running === 0))) {
      const w = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const f of w) f();
    }
  }
}

function addTo<T>(m: Map<string, Set<T>>, k: string, v: T): void {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(v);
}

function removeFrom<T>(m: Map<string, Set<T>>, k: string, v: T): void {
  const s = m.get(k);
  if (s) {
    s.delete(v);
    if (s.size === 0) m.delete(k);
  }
}
