/** Counters and gauges of the mirror, rendered in the Prometheus text format. */
export class MirrorMetrics {
  readonly appliedByAction = new Map<string, number>();
  alreadyApplied = 0;
  ignored = 0;
  errors = 0;
  sourceIndex = 0;
  appliedIndex = 0;
  lastApplyEpochMs = 0;
  isReplicating = false;

  /** Source index minus applied index (never negative). */
  get lag(): number {
    return Math.max(0, this.sourceIndex - this.appliedIndex);
  }

  countApplied(action: string): void {
    this.appliedByAction.set(action, (this.appliedByAction.get(action) ?? 0) + 1);
    this.lastApplyEpochMs = Date.now();
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
    );
    return `${lines.join('\n')}\n`;
  }
}
