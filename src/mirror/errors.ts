import { ConfigError, ExitCode, GalleyError } from '../core/errors.js';
import { EtcdClientError } from '../etcd/errors.js';
import { WaitAborted } from '../util/wait.js';

/**
 * Exit codes of etcdmirror (documented in its --help): Galley's own codes (0, 1, 2, 99, the
 * same meaning as for `cookbook`), plus the three states only a replica can be in.
 */
export const MirrorExit = {
  /** Stopped cleanly (SIGTERM or SIGINT), or a --reload run that was asked to stop. */
  OK: ExitCode.OK,
  /** Failed: a cluster could not be reached or answered an error; restarting is safe. */
  FAILED: ExitCode.FAILED,
  /** Bad usage: wrong arguments or flags; nothing was changed. */
  USAGE: ExitCode.USAGE,
  /** The destination holds no replication index: run once with --reload. */
  NO_INDEX: 3,
  /** The destination does not hold what the source held: replication stopped; a --reload is needed. */
  INCONSISTENT: 4,
  /** The mirror fell out of the source's 1000-event history: --reload, or run with --resync-on-gap. */
  GAP: 5,
  /** Unexpected error (a bug). */
  UNEXPECTED: ExitCode.UNEXPECTED,
} as const;
export type MirrorExitCode = (typeof MirrorExit)[keyof typeof MirrorExit];

export const MIRROR_EXIT_CODES_HELP = `EXIT CODES
  0   stopped cleanly (SIGTERM/SIGINT)
  1   failed: a cluster was unreachable or refused a write; restarting is safe
  2   bad usage; nothing was changed
  3   no replication index in the destination: run once with --reload
  4   inconsistency: the destination does not hold what the source held; replication stopped
  5   out of the source's 1000-event history (etcd errorCode 401): --reload, or use --resync-on-gap
  99  unexpected error`;

/** Root of etcdmirror's errors: each one carries the exit code the daemon ends with. */
export class MirrorError extends GalleyError {
  readonly mirrorExit: MirrorExitCode;

  constructor(message: string, mirrorExit: MirrorExitCode, suggestions: string[] = [], cause?: unknown) {
    super(message, { suggestions, cause });
    this.mirrorExit = mirrorExit;
  }
}

/** Bad arguments. */
export class MirrorUsageError extends MirrorError {
  constructor(message: string, suggestions: string[] = []) {
    super(message, MirrorExit.USAGE, suggestions);
  }
}

/** The destination has no replication index key. */
export class NoIndexError extends MirrorError {
  constructor(indexKey: string) {
    super(`no replication index in the destination at ${indexKey}: refusing to start`, MirrorExit.NO_INDEX, [
      'run etcdmirror once with the same arguments plus --reload (it ERASES the destination prefix and copies everything)',
    ]);
  }
}

/** The destination does not hold what the source held before an event. */
export class InconsistencyError extends MirrorError {
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly found: string,
    readonly lastAppliedIndex: number,
    readonly eventIndex: number,
    readonly action: string,
  ) {
    super(
      `inconsistency at ${key} (source event ${action} at index ${eventIndex}): expected ${expected}, found ${found}; ` +
        `replication stopped, last applied index ${lastAppliedIndex}`,
      MirrorExit.INCONSISTENT,
      [
        'inspect the key on both clusters; a full reload (--reload) makes the destination equal to the source again',
      ],
    );
  }
}

/** The requested index is no longer in the source's history (etcd errorCode 401). */
export class HistoryGapError extends MirrorError {
  constructor(
    readonly requestedIndex: number,
    readonly oldestIndex: number | undefined,
  ) {
    super(
      `the mirror fell out of the source's event history: it needs index ${requestedIndex} but the oldest kept is ` +
        `${oldestIndex ?? 'unknown'} (etcd keeps only the last 1000 events)`,
      MirrorExit.GAP,
      ['run with --reload to copy everything afresh, or with --resync-on-gap to repair only the differences'],
    );
  }
}

/** A cluster could not be reached, or refused a request for a reason that is not an inconsistency. */
export class ClusterError extends MirrorError {
  constructor(message: string, cause?: unknown) {
    super(
      message,
      MirrorExit.FAILED,
      ['check that the cluster is up and reachable; restarting etcdmirror is safe'],
      cause,
    );
  }
}

/**
 * The exit code an error ends etcdmirror with: a mirror error's own; any etcd failure (a
 * cluster unreachable, a refusal, bad credentials) 1, restarting is safe; a bad password file
 * or CA 2; anything else is a bug (99).
 */
export function mirrorExitOf(e: unknown): MirrorExitCode {
  if (e instanceof MirrorError) return e.mirrorExit;
  if (e instanceof ConfigError) return MirrorExit.USAGE;
  if (e instanceof EtcdClientError || e instanceof WaitAborted) return MirrorExit.FAILED;
  return MirrorExit.UNEXPECTED;
}
