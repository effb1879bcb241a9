import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { redact } from './secrets.js';

/** Fields of an audit line. */
export interface AuditRecord {
  event: 'START' | 'END';
  runId: string;
  user: string;
  host: string;
  cookbook: string;
  args: string;
  task?: string;
  reason?: string;
  dryRun: boolean;
  outcome?: string;
  exitCode?: number;
  /** START: who approved the reviewed plan (`user@host`), when the run needed a second person. */
  approvedBy?: string;
  /** END: how long the run took (filled in by the announcer from its START). */
  durationMs?: number;
}

/** Where START and END lines of every run go. */
export interface AuditLog {
  record(r: AuditRecord): void;
  /** Waits for announcements still being sent (each bounded by its sink's timeout). */
  flush?(): Promise<void>;
}

const q = (v: string) => JSON.stringify(v);

/** One line per event, key=value, values quoted; secrets redacted. */
export function formatAudit(r: AuditRecord, now = new Date()): string {
  const parts = [
    now.toISOString(),
    r.event,
    `run=${r.runId}`,
    `user=${q(r.user)}`,
    `host=${q(r.host)}`,
    `cookbook=${r.cookbook}`,
    `args=${q(r.args)}`,
    `task=${q(r.task ?? '')}`,
    `reason=${q(r.reason ?? '')}`,
    `mode=${r.dryRun ? 'dry-run' : 'live'}`,
  ];
  if (r.approvedBy) parts.push(`approved_by=${q(r.approvedBy)}`);
  if (r.event === 'END') parts.push(`outcome=${r.outcome}`, `exit=${r.exitCode}`);
  if (r.event === 'END' && r.durationMs !== undefined)
    parts.push(`took=${(r.durationMs / 1000).toFixed(1)}s`);
  return redact(parts.join(' '));
}

/** The default audit log: a file (append-only). */
export function fileAuditLog(file: string): AuditLog {
  return {
    record(r) {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      appendFileSync(file, `${formatAudit(r)}\n`, { mode: 0o600 });
    },
  };
}

export function memoryAuditLog(): AuditLog & { lines: string[] } {
  const lines: string[] = [];
  return { lines, record: (r) => lines.push(formatAudit(r)) };
}
