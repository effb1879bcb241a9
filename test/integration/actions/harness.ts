import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineAction, type ActionEnv } from '../../../src/core/action.js';
import { CheckError } from '../../../src/core/errors.js';
import { memoryAuditLog } from '../../../src/core/audit.js';
import type { Cookbook } from '../../../src/core/cookbook.js';
import { InMemoryLockManager } from '../../../src/core/lock.js';
import { memoryLogger } from '../../../src/core/log.js';
import { scriptedPrompter } from '../../../src/core/prompt.js';
import { type RunOptions, runCookbook } from '../../../src/core/runner.js';
import type { GalleyConfig } from '../../../src/config/schema.js';

/** Runs an inline cookbook with the Runner against the real lab (non-interactive unless answers are given). */
export async function runAgainstLab(
  config: GalleyConfig,
  cookbook: Cookbook,
  over: Partial<RunOptions> = {},
) {
  const out: string[] = [];
  const result = await runCookbook({
    name: 'test.lab',
    cookbook,
    rawArgs: {},
    dryRun: false,
    yes: true,
    stateDir: mkdtempSync(join(tmpdir(), 'galley-it-')),
    loadConfig: () => config,
    audit: memoryAuditLog(),
    prompter: scriptedPrompter([]),
    out: { write: (t) => void out.push(t) },
    log: memoryLogger(),
    interrupts: new EventEmitter() as unknown as RunOptions['interrupts'],
    locks: () => new InMemoryLockManager(),
    ...over,
  });
  return { result, output: out.join('') };
}

/** An action environment on the lab for calling action definitions directly. */
export function labEnv(config: GalleyConfig, dryRun = false): ActionEnv & { close(): Promise<void> } {
  const services = new Map<string, { v: unknown; close?: (v: unknown) => Promise<void> | void }>();
  return {
    config: () => config,
    service<T>(key: string, create: () => T, close?: (t: T) => Promise<void> | void): T {
      if (!services.has(key)) services.set(key, { v: create(), close: close as (v: unknown) => void });
      return services.get(key)!.v as T;
    },
    log: memoryLogger(),
    signal: new AbortController().signal,
    dryRun,
    async close() {
      for (const s of services.values()) await s.close?.(s.v);
      services.clear();
    },
  };
}

/** An action that always fails: makes the Runner roll back what came before it. */
export const fail = defineAction<{ why: string }, null>({
  kind: 'test.fail',
  describe: (p) => `fail (${p.why})`,
  observe: async () => null,
  plan: (p) => [{ subject: 'nothing', from: 'ok', to: p.why }],
  apply: async (p) => {
    throw new CheckError(p.why);
  },
  undo: async () => undefined,
});
