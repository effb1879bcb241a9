/** Parses a duration with a unit (`500ms`, `10s`, `5m`, `1h`); a bare number is seconds. */
export function parseDurationMs(raw: string | number): number {
  if (typeof raw === 'number') {
    if (!Number.isFinite(raw) || raw < 0)
      throw new Error(`invalid duration ${raw}: must be a non-negative number`);
    return raw * 1000;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(raw);
  if (!m)
    throw new Error(`invalid duration "${raw}": use a number with a unit, such as 500ms, 10s, 5m or 1h`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit] ?? 1000;
  return Math.round(n * factor);
}

/** Formats milliseconds for people: 850ms, 2.3s, 4m10s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m}m${s}s`;
}
