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
import { sleep } from '../util/wait.js';
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
  if (down.length) throw unreachable(name, type, down);
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

function unreachable(
  name: string,
  type: RecordType,
  down: { server: { name: string; address: string; port: number }; error?: string }[],
): CheckError {
  return new CheckError(
    `${name} ${type}: authoritative DNS server${down.length === 1 ? '' : 's'} ${down.map((s) => `${s.server.name} (${s.server.address}:${s.server.port})`).join(', ')} unreachable: ${down.map((s) => s.error).join('; ')}`,
    {
      suggestions: [
        `start the DNS server again (systemctl start gdnsd on ${down.map((s) => s.server.name).join(', ')}); nothing can be published while it is down`,
      ],
    },
  );
}

/**
 * Changes a record set through the zone's backend. When the backend refuses because a server
 * does not answer, the error names that server as unreachable (instead of blaming the records);
 * when the backend restored the previous records itself, it says so (nothing is left applied).
 */
async function replaceOrExplain(
  env: ActionEnv,
  name: string,
  type: RecordType,
  records: RecordValue[],
  expected: RecordValue[],
): Promise<void> {
  try {
    await backendOf(env, name).replaceRRset(name, type, records, expected);
  } catch (e) {
    const o = await observeRRset(env.config(), name, type);
    const down = o.servers.filter((s) => s.error !== undefined);
    if (!down.length) throw e;
    const restored = o.servers.every(
      (s) => s.records === undefined || canonical(type, s.records) === canonical(type, expected),
    );
    throw new CheckError(
      `${unreachable(name, type, down).message}; the change was not published${restored ? ' (the backend restored the previous records: nothing is left applied)' : ''}`,
      {
        suggestions: [
          `start the DNS server again on ${down.map((s) => s.server.name).join(', ')}, then retry`,
        ],
      },
    );
  }
}

/** The record set every authoritative server agrees on; throws naming unreachable or disagreeing servers (read-only). */
export async function readRecordSet(env: ActionEnv, name: string, type: RecordType): Promise<RecordValue[]> {
  return (await observeAgreed(env, name, type)).records;
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
  await replaceOrExplain(env, p.name, p.type, b.records, now.records);
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
    await replaceOrExplain(env, p.name, p.type, p.records, b.records);
  },
  resource: (p) => `dns:${p.name}:${p.type}`,
  after: (p) => ({ records: p.records }),
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
    await replaceOrExplain(env, p.name, p.type, withTtl(b.records, p.ttlSeconds), b.records);
  },
  resource: (p) => `dns:${p.name}:${p.type}`,
  after: (p, b) => ({ records: b.records.length ? withTtl(b.records, p.ttlSeconds) : b.records }),
  async verify(p, b, env) {
    await waitForRRset(env.config(), p.name, p.type, withTtl(b.records, p.ttlSeconds), Date.now() + 15_000);
  },
  undo: restoreRRset,
  verifyUndo: waitForRestoredRRset,
  comparable: (s) => s.records,
});

/**
 * Waits out a TTL (clients may cache the old record that long), capped at `capMs`, with a
 * countdown on a terminal; ends at once on Ctrl-C. Returns a line for the operator.
 */
export async function waitOutTtl(
  env: ActionEnv,
  ttlSeconds: number,
  capMs: number | undefined,
  what: string,
): Promise<string> {
  const fullMs = ttlSeconds * 1000;
  const ms = capMs === undefined ? fullMs : Math.min(fullMs, capMs);
  const capped = ms < fullMs ? ` (capped at ${ms / 1000}s by replication.ttl_wait_max)` : '';
  const tty = process.stderr.isTTY === true;
  if (!tty) env.log.info(`waiting ${ms / 1000}s for the old TTL of ${what} (${ttlSeconds}s)${capped}`);
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (tty)
      process.stderr.write(
        `\r  waiting for the old TTL of ${what}: ${Math.ceil((until - Date.now()) / 1000)}s left${capped}   `,
      );
    await sleep(Math.min(1000, until - Date.now()), env.signal, `waiting for the old TTL of ${what}`);
  }
  if (tty) process.stderr.write('\n');
  return `waited ${ms / 1000}s for the old TTL (${ttlSeconds}s) of ${what}${capped}`;
}

/** Fails unless every authoritative server answers with the same records, naming the unreachable ones (read-only). */
export async function checkRecordSetAgreed(env: ActionEnv, name: string, type: RecordType): Promise<string> {
  const records = await readRecordSet(env, name, type);
  return `${name} ${type} identical on every authoritative server: ${describeRecords(type, records)}`;
}
