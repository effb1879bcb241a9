import { defineAction, type ActionEnv } from '../core/action.js';
import {
  describeRecords,
  observeRRset,
  waitForRRset,
  withTtl,
  zoneBackendForName,
  type RecordType,
  type RecordValue,
  type ZoneBackend,
} from '../dns/index.js';
import { CheckError } from '../core/errors.js';
import { remoteOf } from './remote.js';

/**
 * DNS record sets as actions: observed on every authoritative server, changed through the
 * zone's backend (zone file + publish, or RFC 2136 with TSIG; the change is conditional on
 * the records observed), verified on every server, TTL included; undo restores exactly the
 * records and TTLs observed before.
 */

interface RRsetState {
  records: RecordValue[];
}

function backendOf(env: ActionEnv, name: string): ZoneBackend {
  return env.service(`dns:backend:${name}`, () =>
    zoneBackendForName(env.config(), name, remoteOf(env).executor),
  );
}

/** The record set as the servers agree on it; refuses to plan over servers that disagree or do not answer. */
async function observeAgreed(env: ActionEnv, name: string, type: RecordType): Promise<RRsetState> {
  const o = await observeRRset(env.config(), name, type);
  const down = o.servers.filter((s) => s.error !== undefined);
  if (down.length)
    throw new CheckError(`${name} ${type}: ${down.map((s) => `${s.server.name}: ${s.error}`).join('; ')}`);
  if (!o.agree) {
    throw new CheckError(
      `${name} ${type}: the authoritative servers disagree: ${o.servers.map((s) => `${s.server.name}: ${describeRecords(type, s.records ?? [])}`).join('; ')}`,
      {
        suggestions: ['publish the zone again (authdns-update) and check every server reloaded'],
      },
    );
  }
  return { records: o.records ?? [] };
}

const canonical = (type: RecordType, records: readonly RecordValue[]) => describeRecords(type, [...records]);

/** Undo of both actions: puts back exactly the records and TTLs observed before (conditional on what is there now). */
async function restoreRRset(
  p: { name: string; type: RecordType },
  b: RRsetState,
  env: ActionEnv,
): Promise<void> {
  const now = await observeAgreed(env, p.name, p.type);
  if (canonical(p.type, now.records) === canonical(p.type, b.records)) return;
  await backendOf(env, p.name).replaceRRset(p.name, p.type, b.records, now.records);
}

async function waitForRestoredRRset(
  p: { name: string; type: RecordType },
  b: RRsetState,
  env: ActionEnv,
): Promise<void> {
  await waitForRRset(env.config(), p.name, p.type, b.records, Date.now() + 15_000);
}

export interface RRsetParams {
  name: string;
  type: RecordType;
  records: RecordValue[];
}

/** Replaces a record set (data and TTLs). */
export const setRecordSet = defineAction<RRsetParams, RRsetState>({
  kind: 'dns.set-rrset',
  describe: (p) => `DNS: set ${p.name} ${p.type} to ${describeRecords(p.type, p.records)}`,
  observe: (p, env) => observeAgreed(env, p.name, p.type),
  plan: (p, b) =>
    canonical(p.type, b.records) === canonical(p.type, p.records)
      ? []
      : [
          {
            subject: `${p.name} ${p.type}`,
            from: b.records.length ? canonical(p.type, b.records) : 'absent',
            to: canonical(p.type, p.records),
          },
        ],
  async apply(p, b, env) {
    await backendOf(env, p.name).replaceRRset(p.name, p.type, p.records, b.records);
  },
  async verify(p, _b, env) {
    await waitForRRset(env.config(), p.name, p.type, p.records, Date.now() + 15_000);
  },
  undo: restoreRRset,
  verifyUndo: waitForRestoredRRset,
  comparable: (s) => s.records,
});

/** Sets the TTL of every record of a set, keeping the data. */
export const setRecordTtl = defineAction<{ name: string; type: RecordType; ttlSeconds: number }, RRsetState>({
  kind: 'dns.set-ttl',
  describe: (p) => `DNS: set the TTL of ${p.name} ${p.type} to ${p.ttlSeconds}s`,
  observe: (p, env) => observeAgreed(env, p.name, p.type),
  plan: (p, b) => {
    if (!b.records.length) return [];
    const ttls = [...new Set(b.records.map((r) => r.ttl))];
    return ttls.length === 1 && ttls[0] === p.ttlSeconds
      ? []
      : [{ subject: `${p.name} ${p.type} TTL`, from: `${ttls.join('/')}s`, to: `${p.ttlSeconds}s` }];
  },
  async apply(p, b, env) {
    await backendOf(env, p.name).replaceRRset(p.name, p.type, withTtl(b.records, p.ttlSeconds), b.records);
  },
  async verify(p, b, env) {
    await waitForRRset(env.config(), p.name, p.type, withTtl(b.records, p.ttlSeconds), Date.now() + 15_000);
  },
  undo: restoreRRset,
  verifyUndo: waitForRestoredRRset,
  comparable: (s) => s.records,
});
