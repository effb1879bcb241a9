import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultConfigPaths, loadConfig } from '../config/load.js';
import type { GalleyConfig } from '../config/schema.js';
import type { ActionEnv } from '../core/action.js';
import { type AuditLog, fileAuditLog } from '../core/audit.js';
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
  audit: AuditLog;
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
    audit: fileAuditLog(config?.auditLog ?? join(stateDir, 'audit.log')),
    // Locks live in etcd, in the read-write (master) cluster: the configured master first, then
    // the others (after a switchover the configured master is read-only); else in files.
    locks: async (env) => {
      if (!config || !Object.keys(config.etcd.clusters).length)
        return new FileLockManager(join(stateDir, 'locks'));
      const etcd = await import('../etcd/index.js');
      const master = etcd.lockClusterOf(config);
      const order = [master, ...Object.keys(config.etcd.clusters).filter((c) => c !== master)];
      const managerOf = (cluster: string) =>
        etcd.etcdLockManagerFor(config, {
          client: etcd.sharedEtcdClient(env, cluster, 'proxy'),
          releaseClient: etcd.sharedEtcdClient(env, cluster, 'local'),
          warn: (m) => env.log.warn(m),
        });
      return {
        async acquire(request) {
          let readOnly: unknown;
          for (const cluster of order) {
            try {
              return await managerOf(cluster).acquire(request);
            } catch (e) {
              if (!(e instanceof etcd.EtcdReadOnlyError)) throw e;
              readOnly = e;
            }
          }
          throw readOnly;
        },
      };
    },
  };
}

/** The options of a run that come from the CLI's context: config, state, audit, locks, and the terminal. */
export function terminalRunOptions(
  ctx: CliContext,
  out: Output = process.stdout,
): Pick<
  RunOptions,
  'configFile' | 'loadConfig' | 'stateDir' | 'audit' | 'locks' | 'prompter' | 'out' | 'log'
> {
  return {
    configFile: ctx.configFile,
    loadConfig: ctx.loadConfig,
    stateDir: ctx.stateDir,
    audit: ctx.audit,
    locks: ctx.locks,
    prompter: terminalPrompter(),
    out,
    log: streamLogger(process.stderr),
  };
}
