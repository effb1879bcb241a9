/**
 * Upper bounds (seconds) of the write-latency histogram: prometheus_client's defaults, which the
 * Python etcdmirror's `etcdmirror_write_latency` uses, so that existing dashboards keep their buckets.
 */
export const WRITE_LATENCY_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
] as const;

/** Label values as the Prometheus text format quotes them. */
function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/**
 * Counters and gauges of the mirror, rendered in the Prometheus text format: Galley's own
 * names, and the names of Wikimedia's Python etcdmirror (`etcdmirror_lag`,
 * `etcdmirror_replicated_events_total`, `etcdmirror_write_latency`, `etcdmirror_load_time`),
 * with its `url` and `prefix` labels (the destination), so that existing dashboards and alerts
 * keep working.
 */
export class MirrorMetrics {
  readonly appliedByAction = new Map<string, number>();
  alreadyApplied = 0;
  ignored = 0;
  errors = 0;
  sourceIndex = 0;
  appliedIndex = 0;
  lastApplyEpochMs = 0;
  isReplicating = false;
  /** Why it is not replicating (an inconsistency, a gap being repaired), for /health. */
  stoppedBecause: string | undefined;
  /** Counts per bucket of WRITE_LATENCY_BUCKETS (not cumulative), then the sum and count. */
  readonly #latencyBuckets = new Array<number>(WRITE_LATENCY_BUCKETS.length).fill(0);
  #latencySumSeconds = 0;
  #latencyCount = 0;
  #loadCount = 0;
  #loadSumSeconds = 0;
  readonly #labels: string;

  /** `url` and `prefix`: the destination, as the Python etcdmirror labels its lag and latency. */
  constructor(destination: { url: string; prefix: string } = { url: '', prefix: '/' }) {
    // the Python etcdmirror's label order
    this.#labels = `url="${labelValue(destination.url)}",prefix="${labelValue(destination.prefix)}"`;
  }

  /** Source index minus applied index (never negative). */
  get lag(): number {
    return Math.max(0, this.sourceIndex - this.appliedIndex);
  }

  /** Source events handled: applied (or found applied) and not replicated (ignored, hidden). */
  get replicatedEvents(): number {
    let n = this.ignored;
    for (const v of this.appliedByAction.values()) n += v;
    return n;
  }

  countApplied(action: string): void {
    this.appliedByAction.set(action, (this.appliedByAction.get(action) ?? 0) + 1);
    this.lastApplyEpochMs = Date.now();
  }

  /** Records how long one destination write took (with its read-and-compare, if any). */
  observeWriteLatency(seconds: number): void {
    let i = 0;
    while (i < WRITE_LATENCY_BUCKETS.length && seconds > WRITE_LATENCY_BUCKETS[i]!) i++;
    if (i < WRITE_LATENCY_BUCKETS.length) this.#latencyBuckets[i]!++;
    this.#latencySumSeconds += seconds;
    this.#latencyCount++;
  }

  /** Records how long a --reload (erase, dump and load) took. */
  observeLoadTime(seconds: number): void {
    this.#loadCount++;
    this.#loadSumSeconds += seconds;
  }

  /** The Prometheus exposition text. */
  render(): string {
    const lines: string[] = [
      '# HELP etcdmirror_events_applied_total Source events applied to the destination, by action.',
      '# TYPE etcdmirror_events_applied_total counter',
    ];
    for (const [action, n] of [...this.appliedByAction].sort())
      lines.push(`etcdmirror_events_applied_total{action="${action}"} ${n}`);
    lines.push(
      '# HELP etcdmirror_events_already_applied_total Replayed events found already applied (after a restart).',
      '# TYPE etcdmirror_events_already_applied_total counter',
      `etcdmirror_events_already_applied_total ${this.alreadyApplied}`,
      '# HELP etcdmirror_events_ignored_total Source events not replicated (ignored or hidden keys).',
      '# TYPE etcdmirror_events_ignored_total counter',
      `etcdmirror_events_ignored_total ${this.ignored}`,
      '# HELP etcdmirror_errors_total Errors (failed requests, inconsistencies).',
      '# TYPE etcdmirror_errors_total counter',
      `etcdmirror_errors_total ${this.errors}`,
      '# HELP etcdmirror_lag_events Source index minus the last applied index.',
      '# TYPE etcdmirror_lag_events gauge',
      `etcdmirror_lag_events ${this.lag}`,
      '# HELP etcdmirror_source_index Last known source etcd index.',
      '# TYPE etcdmirror_source_index gauge',
      `etcdmirror_source_index ${this.sourceIndex}`,
      '# HELP etcdmirror_applied_index Every source event up to this index is applied.',
      '# TYPE etcdmirror_applied_index gauge',
      `etcdmirror_applied_index ${this.appliedIndex}`,
      '# HELP etcdmirror_last_apply_timestamp_seconds When the last event was applied (Unix time).',
      '# TYPE etcdmirror_last_apply_timestamp_seconds gauge',
      `etcdmirror_last_apply_timestamp_seconds ${(this.lastApplyEpochMs / 1000).toFixed(3)}`,
      '# HELP etcdmirror_up 1 while replicating.',
      '# TYPE etcdmirror_up gauge',
      `etcdmirror_up ${this.isReplicating ? 1 : 0}`,
      // the names of Wikimedia's Python etcdmirror (prometheus_client, namespace etcdmirror)
      '# HELP etcdmirror_lag Calculated replica lag',
      '# TYPE etcdmirror_lag gauge',
      `etcdmirror_lag{${this.#labels}} ${this.lag}`,
      '# HELP etcdmirror_replicated_events_total Replica events treated',
      '# TYPE etcdmirror_replicated_events_total counter',
      `etcdmirror_replicated_events_total ${this.replicatedEvents}`,
      '# HELP etcdmirror_write_latency Etcd write latencies',
      '# TYPE etcdmirror_write_latency histogram',
    );
    let cumulative = 0;
    WRITE_LATENCY_BUCKETS.forEach((le, i) => {
      cumulative += this.#latencyBuckets[i]!;
      lines.push(
        `etcdmirror_write_latency_bucket{${this.#labels},le="${Number.isInteger(le) ? `${le}.0` : String(le)}"} ${cumulative}`,
      );
    });
    lines.push(
      `etcdmirror_write_latency_bucket{${this.#labels},le="+Inf"} ${this.#latencyCount}`,
      `etcdmirror_write_latency_count{${this.#labels}} ${this.#latencyCount}`,
      `etcdmirror_write_latency_sum{${this.#labels}} ${this.#latencySumSeconds}`,
      '# HELP etcdmirror_load_time Dump and load time (seconds)',
      '# TYPE etcdmirror_load_time summary',
      `etcdmirror_load_time_count ${this.#loadCount}`,
      `etcdmirror_load_time_sum ${this.#loadSumSeconds}`,
    );
    return `${lines.join('\n')}\n`;
  }
}
