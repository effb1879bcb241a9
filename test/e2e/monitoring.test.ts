import { afterAll, describe, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import {
  alertmanagerOf,
  prometheusOf,
  replicationAlertMatchers,
  waitForNoAlerts,
} from '../../src/actions/alerting.js';
import { ensureService } from '../../src/actions/remote.js';
import { LAB_ALERT_FOR_SECONDS, LAB_SCRAPE_INTERVAL } from '../../src/lab/monitoring.js';
import { labEnv } from '../integration/actions/harness.js';
import { labConfig, labConfigPath } from '../integration/lab.js';
import { joinChannel, type IrcListener } from '../support/irc.js';
import { runCliAsync } from '../support/cli.js';

/**
 * Runs the real CLI without blocking this process (the webhook receiver and the IRC reader
 * live here and must keep answering), with a deadline that fits a busy machine.
 */
const runCli = (args: string[], extraEnv: Record<string, string> = {}, timeoutMs = 280_000) =>
  runCliAsync(args, extraEnv, timeoutMs);

const config = labConfig();
const env = labEnv(config);
const irc = config.announce!.irc!;
const work = mkdtempSync(join(tmpdir(), 'galley-monitoring-'));
afterAll(() => env.close());

/** The lab's environment file with `change` applied to its raw YAML, written next to the test's files. */
function configWith(name: string, change: (raw: Record<string, unknown>) => void): string {
  const raw = parse(readFileSync(labConfigPath(), 'utf8')) as Record<string, unknown>;
  change(raw);
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, stringify(raw));
  return file;
}

async function setMirror(state: 'active' | 'inactive') {
  const mirror = config.replication!.mirrors[config.replication!.master === 'codfw' ? 'eqiad' : 'codfw']!;
  const a = ensureService({ host: mirror.host, unit: mirror.unit, state });
  await a.definition.apply(a.params, await a.definition.observe(a.params, env), env);
}

describe('alerts in the lab (Prometheus and Alertmanager)', () => {
  test("stopping the mirror makes EtcdReplicationDown fire within its rule's time; starting it clears it", async () => {
    const matchers = [{ name: 'alertname', value: 'EtcdReplicationDown', isRegex: false }];
    await waitForNoAlerts(env, matchers, 30_000);
    await setMirror('inactive');
    const stopped = Date.now();
    try {
      // The rule's time: `for:` plus one scrape and one evaluation; the rest is slack for a busy machine.
      const ruleMs =
        (LAB_ALERT_FOR_SECONDS.EtcdReplicationDown + 2 * parseInt(LAB_SCRAPE_INTERVAL, 10)) * 1000;
      let firing: string[] = [];
      while (Date.now() - stopped < ruleMs + 15_000) {
        firing = (await prometheusOf(env).firingAlerts(matchers)).map((a) => a.labels.datacenter ?? '');
        if (firing.length) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(firing.sort()).toEqual(['codfw', 'eqiad']);
      expect(Date.now() - stopped).toBeGreaterThanOrEqual(LAB_ALERT_FOR_SECONDS.EtcdReplicationDown * 1000);
      // Alertmanager receives it from Prometheus.
      const received = async () => (await alertmanagerOf(env).listAlerts(matchers)).length;
      for (let i = 0; i < 40 && (await received()) === 0; i++) await new Promise((r) => setTimeout(r, 250));
      expect(await received()).toBeGreaterThan(0);
    } finally {
      await setMirror('active');
    }
    await waitForNoAlerts(env, matchers, 30_000);
  }, 90_000);

  test('a switchover creates its silence of the replication alerts, removes it after the writes-flow check, and ends with none firing', async () => {
    const began = new Date();
    const there = await runCli(
      ['etcd.switchover', '--from', 'codfw', '--to', 'eqiad', '-y', '-t', 'T13', '-r', 'silence test'],
      { GALLEY_CONFIG: labConfigPath(), SUDO_USER: 'sre-alice' },
    );
    expect(there.stdout).toContain('✓ etcd.switchover done');
    const back = await runCli(['etcd.switchover', '--from', 'eqiad', '--to', 'codfw', '-y'], {
      GALLEY_CONFIG: labConfigPath(),
    });
    expect(back.stdout).toContain('✓ etcd.switchover done');
    const silences = (await alertmanagerOf(env).listSilences()).filter(
      (s) => Date.parse(s.startsAt) >= began.getTime() - 1000 && s.comment.includes('T13'),
    );
    expect(silences).toEqual([
      expect.objectContaining({
        state: 'expired',
        createdBy: expect.stringMatching(/^sre-alice@/),
        comment: expect.stringMatching(
          /^etcd\.switchover codfw → eqiad - T13 - silence test - run \S+ \[galley:etcd replication\]$/,
        ),
        matchers: expect.arrayContaining(
          replicationAlertMatchers(['codfw', 'eqiad']).map((m) => ({ ...m, isEqual: true })),
        ),
      }),
    ]);
    // It was active from before the read-only window until the writes-flow check.
    const s = silences[0]!;
    expect(Date.parse(s.endsAt) - Date.parse(s.startsAt)).toBeGreaterThan(1000);
    expect(there.stdout).toMatch(
      /Silence the replication alerts of codfw and eqiad[\s\S]*Make codfw read-only[\s\S]*Replication eqiad → codfw works[\s\S]*Remove the silence[\s\S]*No replication alert fires\n\s+✓/,
    );
    expect(await prometheusOf(env).firingAlerts(replicationAlertMatchers(['codfw', 'eqiad']))).toEqual([]);
  }, 600_000);

  test('without an alerting section the silence steps are skipped, and the plan says so', async () => {
    const file = configWith('no-alerting', (raw) => delete raw.alerting);
    const r = await runCli(['etcd.switchover', '--from', 'codfw', '--to', 'eqiad', '--dry-run'], {
      GALLEY_CONFIG: file,
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      'Silence the replication alerts of codfw and eqiad (skipped: the environment file has no alerting section)',
    );
    expect(r.stdout).toContain(
      'No replication alert fires (skipped: the environment file has no alerting section)',
    );
  }, 300_000);
});

describe('announcements of runs', () => {
  const servers: Server[] = [];
  const children: ChildProcess[] = [];
  let listener: IrcListener | undefined;
  afterAll(async () => {
    servers.forEach((s) => (s.closeAllConnections(), s.close()));
    children.forEach((c) => c.kill());
    await listener?.close();
  });

  test("a run's START and END reach the IRC channel, syslog and a webhook; a dry-run reaches none", async () => {
    // A webhook receiver.
    const hooks: { event: string; message: string; durationMs: number | null }[] = [];
    const server = createServer((req, res) => {
      let b = '';
      req.on('data', (d: Buffer) => (b += d.toString()));
      req.on('end', () => {
        hooks.push(JSON.parse(b) as (typeof hooks)[number]);
        res.end();
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    // A syslog socket: a unix datagram socket bound by socat, each datagram one line on stdout.
    const socket = join(work, 'log.sock');
    const syslog = spawn('socat', ['-u', `UNIX-RECV:${socket}`, 'STDOUT'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(syslog);
    let syslogText = '';
    syslog.stdout!.on('data', (d: Buffer) => (syslogText += `${d.toString()}\n`));
    for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
    // A reader in the lab's IRC channel.
    listener = await joinChannel({
      server: irc.server,
      port: irc.port,
      channel: irc.channel,
      nick: 'saltest',
    });
    const file = configWith('announce', (raw) => {
      const a = raw.announce as Record<string, unknown>;
      // Generous timeouts: the receivers live in this (busy) test process, on a shared machine.
      a.syslog = { socket, tag: 'galley-test', timeout: '10s' };
      a.webhook = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/sal`, timeout: '10s' };
    });
    const dir = join(work, 'files');
    const live = await runCli(['examples.files', dir, '-y', '-t', 'T4242', '-r', 'announce test'], {
      GALLEY_CONFIG: file,
      SUDO_USER: 'sre-bob',
    });
    expect(live.code).toBe(0);
    expect(live.stderr).not.toContain('WARNING: announcing');
    const start =
      /^galle(y|\d+): !log sre-bob@\S+ START - Cookbook examples\.files --dir=\S+ \(announce test\) - T4242$/;
    const end =
      /^galle(y|\d+): !log sre-bob@\S+ END \(PASS\) - Cookbook examples\.files \(exit_code=0\) --dir=\S+ \(announce test\) - T4242 in \d+\.\ds$/;
    await listener.waitFor((m) => m.some((x) => end.test(x)), 30_000);
    expect(listener.messages).toEqual([expect.stringMatching(start), expect.stringMatching(end)]);
    expect(hooks.map((h) => h.event)).toEqual(['START', 'END']);
    expect(hooks[1]).toMatchObject({
      message: expect.stringContaining('END (PASS) - Cookbook examples.files'),
      durationMs: expect.any(Number),
    });
    for (let i = 0; i < 40 && !syslogText.includes('END (PASS)'); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(syslogText).toMatch(/<13>.*galley-test: sre-bob@\S+ START - Cookbook examples\.files/);
    expect(syslogText).toMatch(
      /<13>.*galley-test: sre-bob@\S+ END \(PASS\) - Cookbook examples\.files \(exit_code=0\)/,
    );

    const counts = () => [listener!.messages.length, hooks.length, syslogText.length];
    const before = counts();
    const dry = await runCli(['examples.files', join(work, 'dry'), '--dry-run', '-r', 'dry'], {
      GALLEY_CONFIG: file,
    });
    expect(dry.code).toBe(0);
    await new Promise((r) => setTimeout(r, 1500));
    expect(counts()).toEqual(before);
  }, 600_000);

  test('a sink that is down is reported once and the run goes on', async () => {
    const file = configWith('down-sink', (raw) => {
      (raw.announce as Record<string, unknown>).webhook = {
        url: 'http://127.0.0.1:9/nothing-listens',
        timeout: '1s',
      };
    });
    const r = await runCli(['examples.files', join(work, 'down'), '-y'], { GALLEY_CONFIG: file });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('✓ examples.files done');
    expect(
      r.stderr.match(/WARNING: announcing to webhook http:\/\/127\.0\.0\.1:9\/nothing-listens failed/g),
    ).toHaveLength(1);
  }, 300_000);
});

describe('two-person review of plans', () => {
  test("with review required, a live run is refused without an approved plan or with one approved by the runner, and accepted with a second person's", async () => {
    const file = configWith('review', (raw) => (raw.review = { required: ['examples.files'] }));
    const dir = join(work, 'reviewed');
    const state = mkdtempSync(join(tmpdir(), 'galley-review-state-'));
    const as = (user: string) => ({ GALLEY_CONFIG: file, SUDO_USER: user, GALLEY_STATE_DIR: state });
    const listener = await joinChannel({
      server: irc.server,
      port: irc.port,
      channel: irc.channel,
      nick: 'revtest',
    });
    try {
      const bare = await runCli(['examples.files', dir, '-y'], as('alice'));
      expect(bare.code).toBe(2);
      expect(bare.stderr).toContain('examples.files needs a plan approved by a second person');
      expect(existsSync(dir)).toBe(false);

      const plan = join(work, 'files-plan');
      expect((await runCli(['examples.files', dir, '--plan-out', plan], as('alice'))).code).toBe(0);
      const unapproved = await runCli(['examples.files', dir, '-y', '--plan', `${plan}.json`], as('alice'));
      expect(unapproved.code).toBe(2);
      expect(unapproved.stderr).toContain('the plan has not been approved');

      const approve = await runCli(['plan', 'approve', `${plan}.json`], as('alice'));
      expect(approve.code).toBe(0);
      expect(approve.stdout).toMatch(/approved by alice@/);
      const self = await runCli(['examples.files', dir, '-y', '--plan', `${plan}.json`], as('alice'));
      expect(self.code).toBe(2);
      expect(self.stderr).toMatch(/approved by alice@\S+, who is the one running it/);
      expect(existsSync(dir)).toBe(false);

      const show = await runCli(['plan', 'show', `${plan}.json`], as('bob'));
      expect(show.stdout).toMatch(/Approved by \*\*alice@\S+\*\*/);

      const other = await runCli(['examples.files', dir, '-y', '--plan', `${plan}.json`], as('bob'));
      expect(other.code).toBe(0);
      expect(existsSync(join(dir, 'file1.txt'))).toBe(true);
      // The approver is in the journal's run-start, the audit START and the announcement.
      const runs = readdirSync(join(state, 'runs'));
      const starts = runs
        .map(
          (f) =>
            JSON.parse(readFileSync(join(state, 'runs', f), 'utf8').split('\n')[0]!) as {
              user: string;
              approvedBy?: string;
              dryRun: boolean;
            },
        )
        .filter((s) => !s.dryRun);
      expect(starts).toEqual([
        expect.objectContaining({ user: 'bob', approvedBy: expect.stringMatching(/^alice@/) }),
      ]);
      const audit = readFileSync(config.auditLog!, 'utf8')
        .split('\n')
        .filter((l) => l.includes(' START ') && l.includes('user="bob"'));
      expect(audit.at(-1)).toMatch(/approved_by="alice@\S+"/);
      await listener.waitFor(
        (m) =>
          m.some((x) =>
            /!log bob@\S+ START - Cookbook examples\.files .*\[plan approved by alice@\S+\]$/.test(x),
          ),
        30_000,
      );

      // An edited plan loses its approval: it no longer matches its fingerprint, so it is refused as tampered.
      const edited = JSON.parse(readFileSync(`${plan}.json`, 'utf8')) as { steps: { title: string }[] };
      edited.steps[0]!.title = 'Create the directory (edited)';
      writeFileSync(`${plan}.json`, JSON.stringify(edited));
      const tampered = await runCli(
        ['examples.files', join(work, 'tampered'), '-y', '--plan', `${plan}.json`],
        as('bob'),
      );
      expect(tampered.code).toBe(2);
      expect(tampered.stderr).toContain('refusing a tampered plan');
    } finally {
      await listener.close();
    }
  }, 900_000);
});
