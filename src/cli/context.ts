import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultConfigPaths, loadConfig } from '../config/load.js';
import type { GalleyConfig } from '../config/schema.js';
import type { ActionEnv } from '../core/action.js';
import { type Announcer, announcerFor } from '../announce/index.js';
import { waitingPrompter } from '../announce/prompter.js';
import { ConfigError } from '../core/errors.js';
import { FileLockManager } from '../core/file-lock.js';
import { defaultStateDir } from '../core/journal.js';
import type { LockManager } from '../core/lock.js';
import { streamLogger, type Output } from '../core/log.js';
import { terminalPrompter } from '../core/prompt.js';
import type { RunOptions } from '../core/runner.js';

/** What every run resolves from its flags: the config file, the state directory, the audit log and the locks. */
export interface CliContext {
  configFile?: string;
  loadConfig(): GalleyConfig;
  stateDir: string;
  /** The audit file and the announcement sinks (`announce` in the environment file). */
  audit: Announcer;
  /** Announce a prompt unanswered for this long (announce.waiting_for_input_after). */
  waitingForInputAfterMs?: number;
  locks(env: ActionEnv): Promise<LockManager>;
}

/**
 * Resolves the config (--config, GALLEY_CONFIG, then ~/.config/galley/config.yaml). A named
 * config is loaded at once, so a malformed file stops the run before anything happens; with
 * none, cookbooks that need no servers still run.
 */
export function cliContext(flags: { config?: string; 'state-dir'?: string }): CliContext {
  const configFile = flags.config ? resolve(flags.config) : defaultConfigPaths().find((p) => existsSync(p));
  const config = configFile ? loadConfig(configFile) : undefined;
  const stateDir = flags['state-dir'] ?? config?.stateDir ?? defaultStateDir();
  return {
    configFile,
    loadConfig: () => {
      if (config) return config;
      throw new ConfigError('this cookbook needs an environment file and none was given', [
        'pass --config FILE or set GALLEY_CONFIG',
        '`cookbook lab up` starts a local lab and writes one',
      ]);
    },
    stateDir,
    audit: announcerFor(config?.announce, config?.auditLog ?? join(stateDir, 'audit.log')),
    waitingForInputAfterMs: config?.announce?.waitingForInputAfterMs,
    // Locks live in etcd, in every cluster (see runLockManager); else in files.
    locks: async (env) => {
      if (!config || !Object.keys(config.etcd.clusters).length)
        return new FileLockManager(join(stateDir, 'locks'));
      const etcd = await import('../etcd/index.js');
      return etcd.runLockManager(config, env);
    },
  };
}

/** The options of a run that come from the CLI's context: config, state, audit, locks, and the terminal. */
export function terminalRunOptions(
  ctx: CliContext,
  out: Output = process.stdout,
): Pick<
  RunOptions,
  'configFile' | 'loadConfig' | 'stateDir' | 'audit' | 'locks' | 'prompter' | 'out' | 'errOut' | 'log'
> {
  return {
    configFile: ctx.configFile,
    loadConfig: ctx.loadConfig,
    stateDir: ctx.stateDir,
    audit: ctx.audit,
    locks: ctx.locks,
    prompter:
      ctx.waitingForInputAfterMs === undefined
        ? terminalPrompter()
        : waitingPrompter(terminalPrompter(), ctx.waitingForInputAfterMs, (q, ms) =>
            ctx.audit.waitingForInput(q, ms),
          ),
    out,
    errOut: process.stderr,
    log: streamLogger(process.stderr),
  };
}
