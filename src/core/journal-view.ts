import { type JournalEntry, journalState } from './journal.js';

/**
 * A run's journal as `cookbook runs RUN` prints it: one line per entry, the steps and actions
 * of a child cookbook (ctx.runCookbook) indented under the line that starts it, and at the end what
 * is still applied.
 */
export function formatJournal(entries: readonly JournalEntry[], runId: string): string[] {
  const lines: string[] = [];
  const pad = (depth: number) => '  '.repeat(depth);
  for (const e of entries) {
    const depth = e.type === 'step' || e.type === 'action' ? (e.within?.length ?? 0) : 0;
    if (e.type === 'run-start')
      lines.push(
        `${e.time} START ${e.cookbook} ${JSON.stringify(e.args)} by ${e.user}@${e.host}${e.pid ? ` [${e.pid}]` : ''}${e.dryRun ? ' (dry-run)' : ''}`,
      );
    else if (e.type === 'child')
      lines.push(
        e.event === 'start'
          ? `${e.time} ${pad(e.depth)}▶ ${e.label}: ${e.title} (child run, from step ${e.step + 1})`
          : `${e.time} ${pad(e.depth)}✓ ${e.label}: steps done (to step ${e.step + 1})`,
      );
    else if (e.type === 'step')
      lines.push(`${e.time} ${pad(depth)}  step ${e.step + 1} "${e.title}": ${e.status}`);
    else if (e.type === 'action')
      lines.push(
        `${e.time} ${pad(depth)}    ${e.status.padEnd(13)} ${e.summary}${e.error ? ` — ${e.error}` : ''}`,
      );
    else if (e.type === 'fact') lines.push(`${e.time}   fact ${e.key} = ${JSON.stringify(e.value)}`);
    else if (e.type === 'takeover') lines.push(`${e.time} TAKEOVER by ${e.by} from ${e.from}: ${e.why}`);
    else lines.push(`${e.time} END ${e.outcome} (exit ${e.exitCode})${e.message ? `: ${e.message}` : ''}`);
  }
  const left = journalState([...entries]).applied;
  if (left.length)
    lines.push(`${left.length} applied action(s) not undone; \`cookbook rollback ${runId}\` undoes them`);
  return lines;
}
