import { UsageError } from '../core/errors.js';

/** How many hosts run at once: a count, or a percentage of the host set. */
export type BatchSize = { count: number } | { percent: number };

/** Parses `--batch-size`: `5` or `20%`. */
export function parseBatchSize(raw: string | number): BatchSize {
  const text = String(raw).trim();
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  if (!m || n <= 0 || (m[2] === '%' && n > 100) || (m[2] === '' && !Number.isInteger(n))) {
    throw new UsageError(`invalid batch size "${raw}": give a number of hosts (5) or a percentage (20%)`);
  }
  return m[2] === '%' ? { percent: n } : { count: n };
}

/** Hosts per batch for a host set of `total` hosts (at least 1; a percentage rounds up). */
export function hostsPerBatch(total: number, size: BatchSize | undefined): number {
  if (total === 0) return 1;
  if (!size) return total;
  const n = 'count' in size ? size.count : Math.ceil((size.percent * total) / 100);
  return Math.max(1, Math.min(total, n));
}

/** Splits hosts into batches, keeping their order. */
export function splitBatches<T>(hosts: readonly T[], size: BatchSize | undefined): T[][] {
  const per = hostsPerBatch(hosts.length, size);
  const batches: T[][] = [];
  for (let i = 0; i < hosts.length; i += per) batches.push(hosts.slice(i, i + per));
  return batches;
}

/** Parses `--success-threshold`: a fraction (`0.9`) or a percentage (`90%`), from 0 to 1. */
export function parseSuccessThreshold(raw: string | number): number {
  const text = String(raw).trim();
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text);
  const value = m ? (m[2] === '%' ? Number(m[1]) / 100 : Number(m[1])) : NaN;
  if (!m || !(value >= 0 && value <= 1)) {
    throw new UsageError(
      `invalid success threshold "${raw}": give a fraction from 0 to 1 (0.9) or a percentage (90%)`,
    );
  }
  return value;
}

/** Hosts that must succeed out of `total` to meet `threshold`. */
export function requiredSuccesses(total: number, threshold: number): number {
  // The epsilon keeps 0.9 × 10 at 9 despite binary floating point.
  return Math.ceil(total * threshold - 1e-9);
}

/** Whether the threshold can still be met with `remaining` hosts left to run. */
export function canStillMeetThreshold(
  successes: number,
  remaining: number,
  total: number,
  threshold: number,
): boolean {
  return successes + remaining >= requiredSuccesses(total, threshold);
}
