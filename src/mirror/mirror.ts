import type http from 'node:http';
import { type ApplyContext, applyPlan } from './applier.js';
import { formatError } from '../core/errors.js';
import { sleep } from '../util/wait.js';
import type { Logger } from '../core/log.js';
import {
  type EtcdClient,
  type EtcdEvent,
  EtcdIndexClearedError,
  EtcdKeyNotFoundError,
  retryTransient,
  type WatchFeed,
  type WatchFeedOptions,
} from '../etcd/index.js';
import {
  HistoryGapError,
  MirrorError,
  MirrorExit,
  type MirrorExitCode,
  mirrorExitOf,
  NoIndexError,
} from './errors.js';
import type { KeyMapper } from './keys.js';
import { MirrorMetrics } from './metrics.js';
import { OrderedScheduler } from './scheduler.js';
import { reloadDestination, resyncDestination, writeIndex } from './snapshot.js';
import { startStatusServer } from './status-server.js';
import { type WritePlan, eventIndex, planEvent } from './write-plan.js';

/** The mirror's logger: Galley's, plus whether debug lines are wanted (they are built per event). */
export type MirrorLogger = Logger & { readonly isDebug: boolean };

/** What a mirror run needs, already validated. */
export interface MirrorSettings {
  src: EtcdClient;
  dst: EtcdClient;
  mapper: KeyMapper;
  log: MirrorLogger;
  /** Erase the destination and copy everything first. */
  reload: boolean;
  /** Repair from a snapshot instead of exiting when the mirror falls out of the source history. */
  resyncOnGap: boolean;
  /** Destination writes in flight at most. */
  concurrency: number;
  /** The status endpoint; undefined: none. */
  listen: { host: string; port: number } | undefined;
  feedOptions?: Partial<WatchFeedOptions>;
}

/** Reads the last applied source index recorded in the destination. */
export async function readRecordedIndex(dst: EtcdClient, indexKey: string): Promise<number> {
  let value: string;
  try {
    value = (await retryTransient(`reading ${indexKey}`, () => dst.get(indexKey))).node.value ?? '';
  } catch (e) {
    if (e instanceof EtcdKeyNotFoundError) throw new NoIndexError(indexKey);
    throw e;
  }
  const index = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(index)) {
    throw new MirrorError(
      `the replication index at ${indexKey} is not a number: ${JSON.stringify(value)}`,
      MirrorExit.NO_INDEX,
      ['run etcdmirror once with --reload'],
    );
  }
  return index;
}

/**
 * The replication daemon: reads the recorded index (or reloads), then applies the source's events
 * to the destination until stopped or until something is wrong, recording the watermark after
 * every batch. Resolves with the exit code.
 */
export class Mirror {
  readonly metrics: MirrorMetrics;
  readonly #s: MirrorSettings;
  #server: http.Server | undefined;
  #finish: ((code: MirrorExitCode) => void) | undefined;
  #isStopping = false;
  #isStopRequested = false;
  #feed: WatchFeed | undefined;
  #scheduler: OrderedScheduler<WritePlan> | undefined;
  #recordedIndex = 0;
  #isRecording = false;
  #recordFailure: unknown;
  /** Lets writes waiting for the replayed history go on when the mirror stops. */
  #releaseWaiters: () => void = () => undefined;

  constructor(settings: MirrorSettings) {
    this.#s = settings;
    this.metrics = new MirrorMetrics({
      url: settings.dst.endpoints[0] ?? '',
      prefix: settings.mapper.dstPrefix,
    });
  }

  /** Asks the mirror to stop cleanly (SIGTERM). */
  stop(): void {
    if (this.#isStopping || this.#isStopRequested) return;
    this.#isStopRequested = true;
    this.#s.log.info('stop requested: finishing the writes in flight');
    this.#finish?.(MirrorExit.OK);
  }

  /** Runs until stopped or failed; resolves with the exit code. */
  async run(): Promise<MirrorExitCode> {
    const { log, mapper } = this.#s;
    const done = new Promise<MirrorExitCode>((resolve) => (this.#finish = resolve));
    try {
      if (this.#s.listen) {
        this.#server = await startStatusServer(this.metrics, this.#s.listen.host, this.#s.listen.port);
        log.info(
          `status endpoint on http://${this.#s.listen.host}:${this.#s.listen.port} (/lag, /metrics, /health)`,
        );
      }
      let start: number;
      if (this.#s.reload) {
        const loadStarted = performance.now();
        start = await reloadDestination(this.#s.src, this.#s.dst, mapper, log, this.#s.concurrency);
        this.metrics.observeLoadTime((performance.now() - loadStarted) / 1000);
      } else {
        start = await readRecordedIndex(this.#s.dst, mapper.indexKey);
      }
      this.#recordedIndex = start;
      // after a reload the destination is exactly the snapshot: nothing can have been applied beyond it
      if (!this.#isStopRequested) this.#startReplication(start, !this.#s.reload);
    } catch (e) {
      return this.#end(e);
    }
    const code = await done;
    return this.#shutdown(code);
  }

  #startReplication(start: number, mayReplay: boolean): void {
    const { log, mapper } = this.#s;
    this.#recordedIndex = start;
    this.metrics.appliedIndex = start;
    this.metrics.sourceIndex = Math.max(this.metrics.sourceIndex, start);
    log.info(
      `Starting replication at index ${start + 1}: ${mapper.srcPrefix} of ${this.#s.src.endpoints.join(',')} -> ${mapper.dstPrefix} of ${this.#s.dst.endpoints.join(',')}` +
        `${mapper.strip ? ' (strip)' : ''}, ${this.#s.concurrency} writes in flight`,
    );
    let replayUpTo = 0;
    // Applies of replayed events waiting for more events to be queued (see ApplyContext.moreQueued).
    let isReplayQueued = !mayReplay;
    let queuedWaiters: ((isMore: boolean) => void)[] = [];
    const wakeQueuedWaiters = (isMore: boolean): void => {
      const waiters = queuedWaiters;
      queuedWaiters = [];
      for (const w of waiters) w(isMore);
    };
    const markReplayQueued = (): void => {
      isReplayQueued = true;
      wakeQueuedWaiters(false);
    };
    this.#releaseWaiters = markReplayQueued;
    const scheduler = new OrderedScheduler<WritePlan>(start, {
      concurrency: this.#s.concurrency,
      run: (plan) => this.#apply(plan, ctx),
      onError: (e) => this.#fail(e),
      onWatermark: (wm) => {
        this.metrics.appliedIndex = wm;
        this.#recordIndex();
      },
    });
    const ctx: ApplyContext = {
      dst: this.#s.dst,
      pendingOn: (key) => scheduler.pendingOn(key),
      get replayUpTo() {
        return replayUpTo;
      },
      lastApplied: () => scheduler.watermark,
      moreQueued: () =>
        isReplayQueued ? Promise.resolve(false) : new Promise((resolve) => queuedWaiters.push(resolve)),
    };
    let isFirstCatchUp = mayReplay;
    const feed = this.#s.src.watchFeed(
      mapper.srcPrefix,
      {
        onEvent: (ev) => {
          this.#onEvent(ev, scheduler);
          if (queuedWaiters.length) wakeQueuedWaiters(true);
        },
        onQuiet: (upTo) => scheduler.markReceivedUpTo(upTo),
        onSourceIndex: (i) => {
          if (i > this.metrics.sourceIndex) this.metrics.sourceIndex = i;
        },
        onHistoryStart: (upTo) => {
          if (isFirstCatchUp) replayUpTo = upTo;
        },
        onCaughtUp: () => {
          isFirstCatchUp = false;
          markReplayQueued();
          this.metrics.isReplicating = true;
          this.metrics.stoppedBecause = undefined;
        },
        onFatal: (e) =>
          void this.#onFeedFatal(
            e instanceof EtcdIndexClearedError
              ? new HistoryGapError(e.requestedIndex ?? this.metrics.appliedIndex + 1, e.oldestIndex)
              : e,
          ),
      },
      { recursive: true, log, ...this.#s.feedOptions },
    );
    this.#scheduler = scheduler;
    this.#feed = feed;
    feed.start(start);
  }

  #onEvent(ev: EtcdEvent, scheduler: OrderedScheduler<WritePlan>): void {
    const index = eventIndex(ev);
    if (index > this.metrics.sourceIndex) this.metrics.sourceIndex = index;
    let planned;
    try {
      planned = planEvent(ev, this.#s.mapper);
    } catch (e) {
      this.#fail(e);
      return;
    }
    if (planned.kind === 'skip') {
      this.metrics.ignored++;
      if (this.#s.log.isDebug)
        this.#s.log.debug(
          `index ${index}: ${planned.action} ${planned.srcKey} not replicated (${planned.reason})`,
        );
      scheduler.push(index, undefined, undefined);
    } else {
      scheduler.push(index, planned.plan.dstKey, planned.plan);
    }
  }

  async #apply(plan: WritePlan, ctx: ApplyContext): Promise<void> {
    const started = performance.now();
    const outcome = await applyPlan(plan, ctx);
    this.metrics.observeWriteLatency((performance.now() - started) / 1000);
    if (outcome === 'already-applied') this.metrics.alreadyApplied++;
    this.metrics.countApplied(plan.action);
    if (this.#s.log.isDebug) {
      this.#s.log.debug(
        `index ${plan.index}: ${plan.action} ${plan.srcKey} -> ${plan.dstKey}${outcome === 'already-applied' ? ' (already applied)' : ''}`,
      );
    }
  }

  /** Writes the watermark to the index key, one write at a time, always the latest value. */
  #recordIndex(): void {
    if (this.#isRecording) return;
    const scheduler = this.#scheduler;
    if (!scheduler || scheduler.watermark <= this.#recordedIndex) return;
    this.#isRecording = true;
    const value = scheduler.watermark;
    writeIndex(this.#s.dst, this.#s.mapper.indexKey, value).then(
      () => {
        this.#isRecording = false;
        if (value > this.#recordedIndex) this.#recordedIndex = value;
        if (!this.#isStopping) this.#recordIndex();
      },
      (e: unknown) => {
        this.#isRecording = false;
        this.#recordFailure = e;
        this.#fail(e);
      },
    );
  }

  async #onFeedFatal(e: unknown): Promise<void> {
    if (!(e instanceof HistoryGapError) || !this.#s.resyncOnGap || this.#isStopping) {
      this.#fail(e);
      return;
    }
    const { log } = this.#s;
    log.error(`${e.message}; --resync-on-gap: repairing the destination from a source snapshot`);
    this.metrics.errors++;
    this.metrics.stoppedBecause = `repairing the destination after a history gap (--resync-on-gap): ${e.message}`;
    const stopping = this.#stopApplying();
    try {
      await stopping.idle;
      const index = await resyncDestination(
        this.#s.src,
        this.#s.dst,
        this.#s.mapper,
        log,
        this.#s.concurrency,
      );
      await writeIndex(this.#s.dst, this.#s.mapper.indexKey, index);
      if (this.#isStopping) return;
      this.#startReplication(index, false);
    } catch (err) {
      this.#fail(err);
    }
  }

  /**
   * Stops taking events (feed, waiters, scheduler); `idle` resolves once every write in flight
   * and the index recording in progress are done.
   */
  #stopApplying(): { scheduler: OrderedScheduler<WritePlan> | undefined; idle: Promise<void> } {
    this.metrics.isReplicating = false;
    this.#feed?.stop();
    this.#releaseWaiters();
    const scheduler = this.#scheduler;
    scheduler?.stop();
    const idle = (async () => {
      await scheduler?.whenIdle();
      await this.#waitRecording();
    })();
    return { scheduler, idle };
  }

  async #waitRecording(): Promise<void> {
    while (this.#isRecording) await sleep(5);
  }

  #fail(e: unknown): void {
    if (this.#isStopping) return;
    this.metrics.errors++;
    this.metrics.isReplicating = false;
    this.metrics.stoppedBecause = formatError(e).split('\n')[0];
    this.#s.log.error(formatError(e));
    this.#finish?.(mirrorExitOf(e));
  }

  #end(e: unknown): MirrorExitCode {
    this.metrics.errors++;
    this.#s.log.error(formatError(e));
    this.#server?.close();
    this.#s.src.close();
    this.#s.dst.close();
    return mirrorExitOf(e);
  }

  async #shutdown(code: MirrorExitCode): Promise<MirrorExitCode> {
    this.#isStopping = true;
    const { scheduler, idle } = this.#stopApplying();
    try {
      await idle;
      if (scheduler && scheduler.watermark > this.#recordedIndex && this.#recordFailure === undefined) {
        await writeIndex(this.#s.dst, this.#s.mapper.indexKey, scheduler.watermark);
        this.#recordedIndex = scheduler.watermark;
      }
      this.#s.log.info(
        `replication stopped; last applied index ${this.#recordedIndex} recorded in ${this.#s.mapper.indexKey}`,
      );
    } catch (e) {
      this.#s.log.error(`could not record the last applied index: ${formatError(e)}`);
      if (code === MirrorExit.OK) code = MirrorExit.FAILED;
    }
    this.#server?.close();
    this.#s.src.close();
    this.#s.dst.close();
    return code;
  }
}
