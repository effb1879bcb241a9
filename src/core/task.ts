import { DEFAULT_TASK_ID_PATTERN } from '../config/schema.js';
import { UsageError } from './errors.js';

/**
 * Checks a task id (`-t`, `--task-id`) against the config's cli.task_id_pattern (default
 * `T\d+`, Phabricator's, as spicerack's validate_task_id), matched whole. Throws UsageError
 * (exit 2) naming the pattern, before anything is recorded or changed. An absent task is fine.
 */
export function checkTaskId(task: string | undefined, pattern: string = DEFAULT_TASK_ID_PATTERN): void {
  if (task === undefined) return;
  if (new RegExp(`^(?:${pattern})$`).test(task)) return;
  const example = pattern === DEFAULT_TASK_ID_PATTERN ? ' (e.g. T358636)' : '';
  throw new UsageError(
    `invalid task id ${JSON.stringify(task)}: it must match ${pattern}${example} (cli.task_id_pattern in the environment file)`,
  );
}
