import type { GalleyConfig } from '../config/schema.js';
import type { ActionEnv } from './action.js';
import { formatError } from './errors.js';
import type { Logger } from './log.js';

/** The action environment of one run, with the shared clients and the signal of the phase in progress. */
export interface RunEnv extends ActionEnv {
  /** Which signal actions see from now on (waits: the first Ctrl-C; an action in flight: the second). */
  useSignal(signal: AbortSignal): void;
  closeAll(): Promise<void>;
}

/** A service registry shared by the actions of one run; clients are closed, newest first, at the end. */
export function runEnv(loadConfig: () => GalleyConfig, log: Logger, dryRun: boolean): RunEnv {
  let config: GalleyConfig | undefined;
  let signal = new AbortController().signal;
  const services = new Map<string, { value: unknown; close?: (v: unknown) => Promise<void> | void }>();
  return {
    config: () => (config ??= loadConfig()),
    service<T>(key: string, create: () => T, close?: (t: T) => Promise<void> | void): T {
      const found = services.get(key);
      if (found) return found.value as T;
      const value = create();
      services.set(key, { value, close: close as ((v: unknown) => Promise<void> | void) | undefined });
      return value;
    },
    log,
    get signal() {
      return signal;
    },
    useSignal(s) {
      signal = s;
    },
    dryRun,
    async closeAll() {
      for (const [, s] of [...services].reverse()) {
        try {
          await s.close?.(s.value);
        } catch (e) {
          log.debug(`closing a client: ${formatError(e)}`);
        }
      }
      services.clear();
    },
  };
}
