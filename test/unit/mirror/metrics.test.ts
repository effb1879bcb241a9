import { describe, expect, test } from '@jest/globals';
import { MirrorMetrics } from '../../../src/mirror/metrics.js';

/** The sample lines of one metric family (a histogram's or summary's _bucket, _count and _sum included). */
function samples(text: string, name: string): string[] {
  const names = new Set([name, `${name}_bucket`, `${name}_count`, `${name}_sum`]);
  return text.split('\n').filter((l) => !l.startsWith('#') && names.has(l.split(/[{ ]/)[0]!));
}

function filled(): MirrorMetrics {
  const m = new MirrorMetrics({ url: 'http://127.0.0.1:2379', prefix: '/conftool' });
  m.sourceIndex = 120;
  m.appliedIndex = 100;
  m.countApplied('set');
  m.countApplied('set');
  m.countApplied('delete');
  m.ignored = 4;
  m.observeWriteLatency(0.003);
  m.observeWriteLatency(0.02);
  m.observeWriteLatency(0.6);
  m.observeWriteLatency(12);
  m.observeLoadTime(1.5);
  return m;
}

describe("/metrics speaks both Galley's names and those of the Python etcdmirror", () => {
  test('etcdmirror_lag is the lag in events, labelled with the destination url and prefix as the Python daemon does', () => {
    const text = filled().render();
    expect(text).toContain('# TYPE etcdmirror_lag gauge\n');
    expect(samples(text, 'etcdmirror_lag')).toEqual([
      'etcdmirror_lag{url="http://127.0.0.1:2379",prefix="/conftool"} 20',
    ]);
    expect(text).toContain('\netcdmirror_lag_events 20\n');
  });

  test('etcdmirror_replicated_events_total counts every source event treated, replicated or ignored', () => {
    const text = filled().render();
    expect(text).toContain('# TYPE etcdmirror_replicated_events_total counter\n');
    expect(samples(text, 'etcdmirror_replicated_events_total')).toEqual([
      'etcdmirror_replicated_events_total 7',
    ]);
  });

  test("etcdmirror_write_latency is a histogram in seconds with prometheus_client's default buckets, cumulative", () => {
    const text = filled().render();
    expect(text).toContain('# TYPE etcdmirror_write_latency histogram\n');
    const labels = 'url="http://127.0.0.1:2379",prefix="/conftool"';
    expect(samples(text, 'etcdmirror_write_latency')).toEqual([
      `etcdmirror_write_latency_bucket{${labels},le="0.005"} 1`,
      `etcdmirror_write_latency_bucket{${labels},le="0.01"} 1`,
      `etcdmirror_write_latency_bucket{${labels},le="0.025"} 2`,
      `etcdmirror_write_latency_bucket{${labels},le="0.05"} 2`,
      `etcdmirror_write_latency_bucket{${labels},le="0.075"} 2`,
      `etcdmirror_write_latency_bucket{${labels},le="0.1"} 2`,
      `etcdmirror_write_latency_bucket{${labels},le="0.25"} 2`,
      `etcdmirror_write_latency_bucket{${labels},le="0.5"} 2`,
      `etcdmirror_write_latency_bucket{${labels},le="0.75"} 3`,
      `etcdmirror_write_latency_bucket{${labels},le="1.0"} 3`,
      `etcdmirror_write_latency_bucket{${labels},le="2.5"} 3`,
      `etcdmirror_write_latency_bucket{${labels},le="5.0"} 3`,
      `etcdmirror_write_latency_bucket{${labels},le="7.5"} 3`,
      `etcdmirror_write_latency_bucket{${labels},le="10.0"} 3`,
      `etcdmirror_write_latency_bucket{${labels},le="+Inf"} 4`,
      `etcdmirror_write_latency_count{${labels}} 4`,
      `etcdmirror_write_latency_sum{${labels}} 12.623`,
    ]);
  });

  test('etcdmirror_load_time summarises the --reload runs', () => {
    const text = filled().render();
    expect(text).toContain('# TYPE etcdmirror_load_time summary\n');
    expect(samples(text, 'etcdmirror_load_time')).toEqual([
      'etcdmirror_load_time_count 1',
      'etcdmirror_load_time_sum 1.5',
    ]);
  });

  test("Galley's own names are still there", () => {
    const text = filled().render();
    expect(text).toContain('etcdmirror_events_applied_total{action="set"} 2\n');
    expect(text).toContain('etcdmirror_events_ignored_total 4\n');
    expect(text).toContain('etcdmirror_applied_index 100\n');
    expect(text).toContain('etcdmirror_source_index 120\n');
  });

  test('a label value with quotes or backslashes is escaped', () => {
    const text = new MirrorMetrics({ url: 'http://h:1', prefix: '/a"b\\c' }).render();
    expect(text).toContain('etcdmirror_lag{url="http://h:1",prefix="/a\\"b\\\\c"} 0\n');
  });
});
