import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineAction } from '../../../src/core/action.js';
import { memoryAuditLog } from '../../../src/core/audit.js';
import type { Cookbook } from '../../../src/core/cookbook.js';
import { InMemoryLockManager } from '../../../src/core/lock.js';
import { memoryLogger } from '../../../src/core/log.js';
import { scriptedPrompter } from '../../../src/core/prompt.js';
import type { RunOptions } from '../../../src/core/runner.js';
import type { GalleyConfig } from '../../../src/config/schema.js';

/** An in-memory key/value world with failure injection, shared by the fake actions. */
export class World {
  data = new Map<string, string>();
  log: string[] = [];
  failApply = new Set<string>();
  failUndo = new Set<string>();
  /** Keys whose apply silently does nothing (verification must catch it). */
  lieApply = new Set<string>();
  onApply?: (key: string) => Promise<void> | void;
}

export const world = new World();

export function resetWorld(): World {
  world.data = new Map();
  world.log = [];
  world.failApply = new Set();
  world.failUndo = new Set();
  world.lieApply = new Set();
  world.onApply = undefined;
  return world;
}

/** Sets a key in the fake world; undo restores it. */
export const setKey = defineAction<{ key: string; value: string }, { value: string | null }>({
  kind: 'test.set-key',
  describe: (p) => `set ${p.key} = ${p.value}`,
  observe: async (p) => ({ value: world.data.get(p.key) ?? null }),
  plan: (p, before) =>
    before.value === p.value ? [] : [{ subject: p.key, from: before.value ?? 'absent', to: p.value }],
  async apply(p) {
    world.log.push(`apply ${p.key}`);
    await world.onApply?.(p.key);
    if (world.failApply.has(p.key)) throw new Error(`cannot write ${p.key}`);
    if (!world.lieApply.has(p.key)) world.data.set(p.key, p.value);
  },
  async undo(p, before) {
    world.log.push(`undo ${p.key}`);
    if (world.failUndo.has(p.key)) throw new Error(`cannot restore ${p.key}`);
    if (before.value === null) world.data.delete(p.key);
    else world.data.set(p.key, before.value);
  },
  verifyTimeoutMs: 200,
  resource: (p) => `kv:${p.key}`,
  after: (p) => ({ value: p.value }),
});

/** An irreversible action (no undo). */
export const wipe = defineAction<{ key: string }, { exists: boolean }>({
  kind: 'test.wipe',
  describe: (p) => `wipe ${p.key}`,
  irreversibleBecause: 'the data is gone',
  observe: async (p) => ({ exists: world.data.has(p.key) }),
  plan: (p, b) => (b.exists ? [{ subject: p.key, from: 'present', to: 'absent' }] : []),
  async apply(p) {
    world.log.push(`apply wipe ${p.key}`);
    world.data.delete(p.key);
  },
});

export function stateDir(): string {
  return mkdtempSync(join(tmpdir(), 'galley-test-'));
}

/** Run options for a cookbook with in-memory everything; override what the test is about. */
export function options(cookbook: Cookbook, over: Partial<RunOptions> = {}) {
  const out: string[] = [];
  const audit = memoryAuditLog();
  const prompter = scriptedPrompter([]);
  const interrupts = new EventEmitter();
  const locks = new InMemoryLockManager();
  const o: RunOptions = {
    name: 'test.cookbook',
    cookbook,
    rawArgs: {},
    dryRun: false,
    yes: true,
    stateDir: stateDir(),
    loadConfig: () => {
      throw new Error('no config in this test');
    },
    audit,
    prompter,
    out: { write: (t: string) => void out.push(t) },
    log: memoryLogger(),
    interrupts: interrupts as unknown as RunOptions['interrupts'],
    locks: () => locks,
    ...over,
  };
  return { o, out, audit, interrupts, locks, text: () => out.join('') };
}

export type { GalleyConfig };
