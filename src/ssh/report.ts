import { formatDuration } from '../util/duration.js';
import type { ExecutionReport } from './executor.js';
import { isSuccess } from './executor.js';
import { foldHosts } from './hostset.js';
import type { CommandResult } from './types.js';

/** Hosts whose results look the same to an operator: same outcome, same output. */
export interface OutputGroup {
  hosts: string[];
  outcome: string;
  output: string;
}

function outcomeOf(r: CommandResult): string {
  if (r.wouldRun) return 'would run (dry-run)';
  if (r.error !== undefined) return `error: ${r.error}`;
  return `exit code ${r.exitCode}`;
}

function outputOf(r: CommandResult): string {
  return [r.stdout, r.stderr]
    .filter((s) => s !== '')
    .join(r.stdout.endsWith('\n') || r.stdout === '' ? '' : '\n');
}

/** Groups results by identical outcome and output, largest group first (as cumin's NODE GROUPs). */
export function groupResults(results: readonly CommandResult[]): OutputGroup[] {
  const groups = new Map<string, OutputGroup>();
  for (const r of results) {
    const outcome = outcomeOf(r);
    const output = outputOf(r);
    const key = `${outcome}\u0000${output}`;
    const g = groups.get(key) ?? { hosts: [], outcome, output };
    g.hosts.push(r.host);
    groups.set(key, g);
  }
  return [...groups.values()].sort((a, b) => b.hosts.length - a.hosts.length);
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** The human summary of `cookbook exec`: one block per group of identical output, then the success ratio. */
export function formatReport(report: ExecutionReport): string {
  const lines: string[] = [];
  const total = report.hosts.length;
  if (report.dryRun) {
    lines.push(`DRY-RUN: would run on (${total}) ${foldHosts(report.hosts)}: ${report.command}`);
    return `${lines.join('\n')}\n`;
  }
  for (const g of groupResults(report.results)) {
    lines.push(`===== NODE GROUP: ${g.outcome} =====`);
    lines.push(`(${g.hosts.length}) ${foldHosts(g.hosts)}`);
    if (g.output !== '') {
      lines.push('----- OUTPUT -----');
      lines.push(g.output.replace(/\n$/, ''));
    }
  }
  if (report.notRun.length) {
    lines.push('===== NOT RUN: the success threshold could no longer be met =====');
    lines.push(`(${report.notRun.length}) ${foldHosts(report.notRun)}`);
  }
  const slowest = Math.max(0, ...report.results.map((r) => r.durationMs));
  lines.push('================');
  const ratio = total === 0 ? 1 : report.successes / total;
  lines.push(
    `${report.thresholdMet ? 'PASS' : 'FAIL'}: ${pct(ratio)} (${report.successes}/${total}) success ratio ` +
      `(>= ${pct(report.successThreshold)} threshold) for command: ${report.command} (slowest host ${formatDuration(slowest)})`,
  );
  return `${lines.join('\n')}\n`;
}

/** The `--json` form: stable keys, one entry per host (hosts not run included, with `notRun`). */
export function reportToJson(report: ExecutionReport): Record<string, unknown> {
  const total = report.hosts.length;
  return {
    command: report.command,
    dryRun: report.dryRun,
    successes: report.successes,
    total,
    successRatio: total === 0 ? 1 : report.successes / total,
    successThreshold: report.successThreshold,
    thresholdMet: report.thresholdMet,
    results: [
      ...report.results.map((r) => ({ ...r, durationMs: Math.round(r.durationMs), success: isSuccess(r) })),
      ...report.notRun.map((host) => ({ host, command: report.command, notRun: true, success: false })),
    ],
  };
}
