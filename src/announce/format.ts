/**
 * How a run is announced: spicerack's Server Admin Log lines (`!log user@host START - Cookbook
 * NAME …`, `END (PASS) - Cookbook NAME (exit_code=0) …`), and the JSON a webhook receives.
 * Every text goes through `redact`: secrets never reach a sink.
 */
import type { AuditRecord } from '../core/audit.js';
import { redact, redactValue } from '../core/secrets.js';

/** spicerack's END statuses: PASS (exit 0), FAIL (failed cleanly: 1, 2), ERROR (anything else). */
export function salStatus(exitCode: number | undefined): 'PASS' | 'FAIL' | 'ERROR' {
  if (exitCode === 0) return 'PASS';
  if (exitCode === 1 || exitCode === 2) return 'FAIL';
  return 'ERROR';
}

/** "12.3s", "4m05s": the time a run took. */
export function formatTook(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
}

/** The runtime description of a run: its arguments, (reason), task and approver. */
export function runDescription(r: AuditRecord): string {
  const parts: string[] = [];
  if (r.args) parts.push(r.args);
  if (r.reason) parts.push(`(${r.reason})`);
  let text = parts.join(' ');
  if (r.task) text += `${text ? ' ' : ''}- ${r.task}`;
  if (r.approvedBy) text += `${text ? ' ' : ''}[plan approved by ${r.approvedBy}]`;
  return text;
}

/** The message part of a SAL line (without `!log user@host`). */
export function salMessage(r: AuditRecord): string {
  const desc = runDescription(r);
  if (r.event === 'START') return redact(`START - Cookbook ${r.cookbook}${desc ? ` ${desc}` : ''}`);
  const took = r.durationMs !== undefined ? ` in ${formatTook(r.durationMs)}` : '';
  return redact(
    `END (${salStatus(r.exitCode)}) - Cookbook ${r.cookbook} (exit_code=${r.exitCode})${desc ? ` ${desc}` : ''}${took}`,
  );
}

/** IRC lines are at most 512 bytes with the command: keep the text well under. */
export const IRC_TEXT_MAX_BYTES = 400;

/** Cuts text to at most `max` UTF-8 bytes (ending with … when cut), on a character boundary. */
export function truncateBytes(text: string, max = IRC_TEXT_MAX_BYTES): string {
  if (Buffer.byteLength(text) <= max) return text;
  let out = '';
  for (const ch of text) {
    if (Buffer.byteLength(out + ch) > max - 3) break;
    out += ch;
  }
  return `${out}…`;
}

/** The SAL line spicerack sends: `!log user@host START - Cookbook NAME (reason)`; one line, redacted. */
export function salLine(r: AuditRecord): string {
  return truncateBytes(`!log ${r.user}@${r.host} ${salMessage(r)}`.replace(/[\r\n]+/g, ' '));
}

/** What a webhook receives (JSON): every field of the record, the SAL text, and the time. */
export function webhookPayload(r: AuditRecord, now = new Date()): Record<string, unknown> {
  return redactValue({
    event: r.event,
    time: now.toISOString(),
    runId: r.runId,
    user: r.user,
    host: r.host,
    cookbook: r.cookbook,
    args: r.args,
    task: r.task ?? null,
    reason: r.reason ?? null,
    approvedBy: r.approvedBy ?? null,
    outcome: r.outcome ?? null,
    exitCode: r.exitCode ?? null,
    durationMs: r.durationMs ?? null,
    message: salMessage(r),
  });
}

/** The "waiting for input" notice (not a SAL entry: no `!log`). */
export function waitingMessage(o: {
  user: string;
  host: string;
  cookbook?: string;
  runId?: string;
  waitedMs: number;
  question: string;
}): string {
  const run = o.cookbook ? ` in cookbook ${o.cookbook}${o.runId ? ` (run ${o.runId})` : ''}` : '';
  return truncateBytes(
    redact(
      `${o.user}@${o.host} is waiting for input for ${formatTook(o.waitedMs)}${run}: ${o.question}`,
    ).replace(/[\r\n]+/g, ' '),
  );
}
