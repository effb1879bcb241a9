import { hostname } from 'node:os';
import {
  AlertmanagerClient,
  PrometheusClient,
  AlertingError,
  describeAlert,
  formatMatcher,
  promSelector,
  sameMatchers,
  type Matcher,
  type Silence,
} from '../alerting/index.js';
import type { AlertingConfig, GalleyConfig } from '../config/schema.js';
import { defineAction, type ActionEnv } from '../core/action.js';
import { check, step, type ActionStep, type CheckStep } from '../core/cookbook.js';
import { CheckError, ConfigError } from '../core/errors.js';
import { currentUser } from '../core/lock.js';
import { formatDuration } from '../util/duration.js';
import { waitUntil } from '../util/wait.js';

/**
 * Silences around risky steps and "no alert firing" checks, over Alertmanager and Prometheus
 * (spicerack's `alerting` / `alertmanager` modules and `wait_for_optimal`).
 *
 * A silence is found again by its key, written into its comment as `[galley:KEY]` (e.g.
 * `[galley:etcd replication]`), together with its exact matchers: the key is a stable name,
 * so a dry-run plan and the live run agree, and a later step (or a rollback in another
 * process) finds the silence an earlier step created.
 */

export type { Matcher };

/** The alerts of etcd replication (etcdmirror down or behind) in these datacenters. */
export function replicationAlertMatchers(datacenters: string[]): Matcher[] {
  return [
    { name: 'alertname', value: 'EtcdReplication(Down|Lag)', isRegex: true },
    { name: 'datacenter', value: datacenters.join('|'), isRegex: true },
  ];
}

/** Every alert of one host. */
export function hostAlertMatchers(host: string): Matcher[] {
  return [{ name: 'host', value: host, isRegex: false }];
}

export function alertingOf(config: GalleyConfig): AlertingConfig | undefined {
  return config.alerting;
}

function requireAlerting(env: ActionEnv): AlertingConfig {
  const a = env.config().alerting;
  if (!a)
    throw new ConfigError(
      `${env.config().file} has no alerting section: add alerting.alertmanager_url and alerting.prometheus_url`,
    );
  return a;
}

export function alertmanagerOf(env: ActionEnv): AlertmanagerClient {
  const a = requireAlerting(env);
  return env.service('alertmanager', () => new AlertmanagerClient(a.alertmanagerUrl, a.requestTimeoutMs));
}

export function prometheusOf(env: ActionEnv): PrometheusClient {
  const a = requireAlerting(env);
  return env.service('prometheus', () => new PrometheusClient(a.prometheusUrl, a.requestTimeoutMs));
}

/** "2h", "30m", else "95s"-style: how long a silence lasts. */
function forHow(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return formatDuration(ms);
}

const marker = (key: string) => `[galley:${key}]`;
const selector = (matchers: Matcher[]) => `{${matchers.map(formatMatcher).join(',')}}`;

/** A silence as journaled: enough to find it again or create it anew. */
export interface SilenceSummary {
  id: string;
  endsAt: string;
  createdBy: string;
  comment: string;
}

export interface SilencesState {
  /** Active (or pending) silences with this key and exactly these matchers. */
  active: SilenceSummary[];
}

async function observeSilences(env: ActionEnv, key: string, matchers: Matcher[]): Promise<SilencesState> {
  const all: Silence[] = await alertmanagerOf(env).listSilences();
  const active = all
    .filter(
      (s) => s.state !== 'expired' && s.comment.includes(marker(key)) && sameMatchers(s.matchers, matchers),
    )
    .map((s) => ({ id: s.id, endsAt: s.endsAt, createdBy: s.createdBy, comment: s.comment }));
  return { active };
}

/** The comment of a new silence: what and why, the task, the reason, the run, and the key. */
export function silenceComment(comment: string, key: string, run: ActionEnv['run']): string {
  const parts = [comment];
  if (run?.task) parts.push(run.task);
  if (run?.reason) parts.push(run.reason);
  if (run?.id) parts.push(`run ${run.id}`);
  return `${parts.join(' - ')} ${marker(key)}`;
}

/** `user@host` of whoever runs this: the silence's author. */
function author(env: ActionEnv): string {
  return `${env.run?.user ?? currentUser()}@${env.run?.host ?? hostname()}`;
}

export interface SilenceParams {
  /** A stable name of this silence (see the module comment), e.g. `etcd replication`. */
  key: string;
  matchers: Matcher[];
  durationMs: number;
  /** What is being done, e.g. "etcd.switchover codfw → eqiad"; task, reason and run are added. */
  comment: string;
}

/**
 * Creates a silence in Alertmanager (author `user@host`, comment with the task and reason),
 * verified as active; undone by expiring it. Already done when an active silence with the same
 * key and matchers exists.
 */
export const silenceAlerts = defineAction<SilenceParams, SilencesState>({
  kind: 'alerting.silence',
  describe: (p) => `silence ${selector(p.matchers)} in Alertmanager for ${forHow(p.durationMs)}`,
  observe: (p, env) => observeSilences(env, p.key, p.matchers),
  plan: (p, before) =>
    before.active.length
      ? []
      : [
          {
            subject: `Alertmanager silence ${selector(p.matchers)}`,
            from: 'none',
            to: `active for ${forHow(p.durationMs)}`,
          },
        ],
  async apply(p, _before, env) {
    const now = new Date();
    await alertmanagerOf(env).createSilence({
      matchers: p.matchers,
      startsAt: now,
      endsAt: new Date(now.getTime() + p.durationMs),
      createdBy: author(env),
      comment: silenceComment(p.comment, p.key, env.run),
    });
  },
  async undo(p, _before, env) {
    const am = alertmanagerOf(env);
    for (const s of (await observeSilences(env, p.key, p.matchers)).active) await am.expireSilence(s.id);
  },
  comparable: (s) => s.active.length > 0,
});

/**
 * Expires the silences with this key and matchers (the runbook's "remove the downtime");
 * undone by creating them again until the time they were to end.
 */
export const expireSilence = defineAction<{ key: string; matchers: Matcher[] }, SilencesState>({
  kind: 'alerting.expire-silence',
  describe: (p) => `expire the silence ${selector(p.matchers)} in Alertmanager`,
  observe: (p, env) => observeSilences(env, p.key, p.matchers),
  plan: (p, before) =>
    before.active.length
      ? [{ subject: `Alertmanager silence ${selector(p.matchers)}`, from: 'active', to: 'expired' }]
      : [],
  async apply(_p, before, env) {
    const am = alertmanagerOf(env);
    for (const s of before.active) await am.expireSilence(s.id);
  },
  async undo(p, before, env) {
    const am = alertmanagerOf(env);
    const now = Date.now();
    for (const s of before.active) {
      const endsAt = Math.max(Date.parse(s.endsAt) || 0, now + 60_000);
      await am.createSilence({
        matchers: p.matchers,
        startsAt: new Date(now),
        endsAt: new Date(endsAt),
        createdBy: s.createdBy,
        comment: s.comment,
      });
    }
  },
  comparable: (s) => s.active.length > 0,
});

/**
 * Waits until no alert matching `matchers` fires in Prometheus, with a deadline (spicerack's
 * `wait_for_optimal`); returns a line for the operator, or throws CheckError naming the alerts.
 */
export async function waitForNoAlerts(
  env: ActionEnv,
  matchers: Matcher[],
  timeoutMs: number,
): Promise<string> {
  const prometheus = prometheusOf(env);
  try {
    await waitUntil({
      what: `no alert firing for ${promSelector(matchers)}`,
      probe: () => prometheus.firingAlerts(matchers),
      until: (alerts) => alerts.length === 0,
      describe: (alerts) => alerts.map(describeAlert).join(', '),
      timeoutMs,
      intervalMs: 500,
      maxIntervalMs: 2000,
      retryOn: (e) => e instanceof AlertingError,
      signal: env.signal,
      timeoutError: (message) => new CheckError(message),
    });
  } catch (e) {
    if (e instanceof AlertingError) throw new CheckError(e.message, { suggestions: e.suggestions });
    throw e;
  }
  return `no alert firing for ${promSelector(matchers)}`;
}

const SKIPPED = '(skipped: the environment file has no alerting section)';

/**
 * A step that silences `matchers` for the configured duration; without an alerting section
 * it has no actions and its title says it is skipped (so does the plan).
 */
export function silenceStep(
  env: ActionEnv,
  title: string,
  p: Omit<SilenceParams, 'durationMs'> & { durationMs?: number },
): ActionStep {
  const a = env.config().alerting;
  if (!a) return step(`${title} ${SKIPPED}`, []);
  return step(title, [silenceAlerts({ ...p, durationMs: p.durationMs ?? a.silenceDurationMs })]);
}

/** A step that expires the silence a {@link silenceStep} created (same key and matchers). */
export function expireSilenceStep(
  env: ActionEnv,
  title: string,
  p: { key: string; matchers: Matcher[] },
): ActionStep {
  if (!env.config().alerting) return step(`${title} ${SKIPPED}`, []);
  return step(title, [expireSilence(p)]);
}

/** A check that no alert matching `matchers` fires, waiting up to `timeoutMs`. */
export function noAlertsCheck(
  env: ActionEnv,
  title: string,
  matchers: Matcher[],
  timeoutMs = 60_000,
): CheckStep {
  if (!env.config().alerting) return check(`${title} ${SKIPPED}`, async () => 'skipped: no alerting section');
  return check(title, () => waitForNoAlerts(env, matchers, timeoutMs));
}
