/**
 * Announcements of runs, behind the Runner's AuditLog: every START and END goes to the audit
 * file (as always, dry-runs included) and, for live runs only, to the sinks the environment
 * file names (syslog, a webhook, an IRC channel). Sending never blocks the run: each sink
 * runs in the background, bounded by its timeout; `flush()` (called by the CLI before it
 * exits) waits for what is still in flight. A sink that fails is reported once.
 */
import { hostname } from 'node:os';
import type { AnnounceConfig } from '../config/schema.js';
import { type AuditLog, type AuditRecord, fileAuditLog } from '../core/audit.js';
import { currentUser } from '../core/lock.js';
import { redact } from '../core/secrets.js';
import { waitingMessage } from './format.js';
import { type AnnounceSink, ircSink, syslogSink, webhookSink } from './sinks.js';

export type { AnnounceSink };
export { ircSink, syslogSink, webhookSink };

export interface AnnouncerOptions {
  /** The audit file (or any AuditLog): receives every record, dry-runs included. */
  audit?: AuditLog;
  sinks: AnnounceSink[];
  /** Where a failing sink is reported (once per sink). */
  warn(line: string): void;
  now?: () => number;
}

/** Runs `fn` with an abort signal that fires after `ms`; rejects with "timed out" then. */
function withTimeout(ms: number, fn: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const controller = new AbortController();
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`no answer within ${ms} ms`));
    }, ms);
    fn(controller.signal).then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** An AuditLog that also announces; see the module comment. */
export class Announcer implements AuditLog {
  readonly #o: AnnouncerOptions;
  readonly #pending = new Set<Promise<void>>();
  readonly #reported = new Set<string>();
  readonly #started = new Map<string, number>();
  #current?: { cookbook: string; runId: string; dryRun: boolean };

  constructor(o: AnnouncerOptions) {
    this.#o = o;
  }

  get sinks(): readonly AnnounceSink[] {
    return this.#o.sinks;
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  record(r: AuditRecord): void {
    const record: AuditRecord = { ...r };
    if (r.event === 'START') {
      this.#started.set(r.runId, this.#now());
      this.#current = { cookbook: r.cookbook, runId: r.runId, dryRun: r.dryRun };
    } else {
      const started = this.#started.get(r.runId);
      if (started !== undefined && record.durationMs === undefined) record.durationMs = this.#now() - started;
      this.#started.delete(r.runId);
      if (this.#current?.runId === r.runId) this.#current = undefined;
    }
    this.#o.audit?.record(record);
    if (r.dryRun) return; // a dry-run announces nothing
    for (const sink of this.#o.sinks) this.#send(sink, (signal) => sink.announce(record, signal));
  }

  /** Announces that a prompt has waited `waitedMs` for an answer (live runs only). */
  waitingForInput(question: string, waitedMs: number): void {
    if (this.#current?.dryRun) return;
    const text = waitingMessage({
      user: currentUser(),
      host: hostname(),
      cookbook: this.#current?.cookbook,
      runId: this.#current?.runId,
      waitedMs,
      question,
    });
    for (const sink of this.#o.sinks) this.#send(sink, (signal) => sink.notify(text, signal));
  }

  #send(sink: AnnounceSink, fn: (signal: AbortSignal) => Promise<void>): void {
    const p = withTimeout(sink.timeoutMs, fn)
      .catch((e: unknown) => {
        if (this.#reported.has(sink.name)) return;
        this.#reported.add(sink.name);
        this.#o.warn(
          redact(
            `WARNING: announcing to ${sink.name} failed: ${(e as Error).message} (the run goes on; further failures of this sink are not reported)`,
          ),
        );
      })
      .finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  /** Waits until every announcement in flight is sent or has timed out. */
  async flush(): Promise<void> {
    while (this.#pending.size) await Promise.all([...this.#pending]);
  }
}

/** The sinks an announce section names (the audit file is not one: see {@link announcerFor}). */
export function sinksFromConfig(a: AnnounceConfig | undefined): AnnounceSink[] {
  if (!a) return [];
  const sinks: AnnounceSink[] = [];
  if (a.syslog) sinks.push(syslogSink(a.syslog));
  if (a.webhook) sinks.push(webhookSink(a.webhook));
  if (a.irc) sinks.push(ircSink(a.irc));
  return sinks;
}

/** The CLI's audit log: the audit file (unless `announce.audit_file: false`) and the configured sinks. */
export function announcerFor(
  a: AnnounceConfig | undefined,
  auditFile: string,
  warn: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Announcer {
  return new Announcer({
    audit: a?.auditFile === false ? undefined : fileAuditLog(auditFile),
    sinks: sinksFromConfig(a),
    warn,
  });
}
