import { afterAll, describe, expect, test } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  salLine,
  salMessage,
  salStatus,
  truncateBytes,
  webhookPayload,
} from '../../../src/announce/format.js';
import { Announcer, type AnnounceSink, webhookSink } from '../../../src/announce/index.js';
import { waitingPrompter } from '../../../src/announce/prompter.js';
import { type AuditRecord, formatAudit, memoryAuditLog } from '../../../src/core/audit.js';
import { scriptedPrompter } from '../../../src/core/prompt.js';
import { registerSecret } from '../../../src/core/secrets.js';

const start: AuditRecord = {
  event: 'START',
  runId: '20261201-101010-abcd',
  user: 'alice',
  host: 'cumin1002',
  cookbook: 'etcd.switchover',
  args: '--from=codfw --to=eqiad',
  task: 'T358636',
  reason: 'DC switch',
  dryRun: false,
};
const end: AuditRecord = { ...start, event: 'END', outcome: 'done', exitCode: 0, durationMs: 12_345 };

/** A sink that keeps what it is given. */
function recordingSink(): AnnounceSink & { got: string[] } {
  const got: string[] = [];
  return {
    got,
    name: 'recording',
    timeoutMs: 1000,
    announce: async (r) => void got.push(salLine(r)),
    notify: async (t) => void got.push(`notice: ${t}`),
  };
}

describe("spicerack's SAL format", () => {
  test('START is "!log user@host START - Cookbook NAME args (reason) - task"', () => {
    expect(salLine(start)).toBe(
      '!log alice@cumin1002 START - Cookbook etcd.switchover --from=codfw --to=eqiad (DC switch) - T358636',
    );
  });

  test('END carries the status, the exit code and the time taken', () => {
    expect(salLine(end)).toBe(
      '!log alice@cumin1002 END (PASS) - Cookbook etcd.switchover (exit_code=0) --from=codfw --to=eqiad (DC switch) - T358636 in 12.3s',
    );
    expect(salMessage({ ...end, exitCode: 1, durationMs: 125_000 })).toContain(
      'END (FAIL) - Cookbook etcd.switchover (exit_code=1)',
    );
    expect(salMessage({ ...end, exitCode: 1, durationMs: 125_000 })).toMatch(/ in 2m05s$/);
    expect([0, 1, 2, 93, 97, 99].map(salStatus)).toEqual(['PASS', 'FAIL', 'FAIL', 'ERROR', 'ERROR', 'ERROR']);
  });

  test('the approver of a reviewed plan is named', () => {
    expect(salMessage({ ...start, approvedBy: 'bob@cumin2002' })).toMatch(
      /\[plan approved by bob@cumin2002\]$/,
    );
  });

  test('a run without task or reason reads "START - Cookbook NAME"', () => {
    expect(salLine({ ...start, args: '', task: undefined, reason: undefined })).toBe(
      '!log alice@cumin1002 START - Cookbook etcd.switchover',
    );
  });

  test('secrets never reach the line, and it stays one IRC line', () => {
    registerSecret('hunter2-very-secret');
    const line = salLine({
      ...start,
      reason: 'password=hunter2-very-secret\nsecond line',
      args: 'x'.repeat(900),
    });
    expect(line).not.toContain('hunter2-very-secret');
    expect(line).not.toContain('\n');
    expect(Buffer.byteLength(line)).toBeLessThanOrEqual(400);
    expect(truncateBytes('ééééé', 7)).toBe('éé…');
    expect(JSON.stringify(webhookPayload({ ...start, reason: 'token=hunter2-very-secret' }))).not.toContain(
      'hunter2-very-secret',
    );
  });

  test('the audit file line gets the approver on START and the time taken on END', () => {
    expect(formatAudit({ ...start, approvedBy: 'bob@x' })).toContain('approved_by="bob@x"');
    expect(formatAudit(end)).toMatch(/outcome=done exit=0 took=12\.3s$/);
  });
});

describe('the announcer', () => {
  test('a live run is announced at START and END, with the time taken measured from START', async () => {
    let now = 1_000;
    const sink = recordingSink();
    const audit = memoryAuditLog();
    const a = new Announcer({ audit, sinks: [sink], warn: () => {}, now: () => now });
    a.record(start);
    now += 4_200;
    a.record({ ...end, durationMs: undefined });
    await a.flush();
    expect(sink.got).toEqual([
      expect.stringContaining('START - Cookbook etcd.switchover'),
      expect.stringMatching(/END \(PASS\).* in 4\.2s$/),
    ]);
    expect(audit.lines[1]).toContain('took=4.2s');
  });

  test('a dry-run announces nothing (the audit file still records it)', async () => {
    const sink = recordingSink();
    const audit = memoryAuditLog();
    const a = new Announcer({ audit, sinks: [sink], warn: () => {} });
    a.record({ ...start, dryRun: true });
    a.waitingForInput('Apply step 2?', 300_000);
    a.record({ ...end, dryRun: true });
    await a.flush();
    expect(sink.got).toEqual([]);
    expect(audit.lines).toHaveLength(2);
  });

  test('a failing sink is reported once, and the other sinks still get every announcement', async () => {
    const warnings: string[] = [];
    const good = recordingSink();
    const bad: AnnounceSink = {
      name: 'broken',
      timeoutMs: 1000,
      announce: async () => Promise.reject(new Error('connection refused')),
      notify: async () => {},
    };
    const a = new Announcer({ sinks: [bad, good], warn: (l) => warnings.push(l) });
    a.record(start);
    a.record(end);
    await a.flush();
    expect(good.got).toHaveLength(2);
    expect(warnings).toEqual([expect.stringContaining('announcing to broken failed: connection refused')]);
  });
});

describe('the webhook sink', () => {
  const servers: Server[] = [];
  afterAll(() => servers.forEach((s) => (s.closeAllConnections(), s.close())));
  const listen = (handler: Parameters<typeof createServer>[1]) =>
    new Promise<string>((resolve) => {
      const s = createServer(handler);
      servers.push(s);
      s.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(s.address() as AddressInfo).port}/hook`));
    });

  test('POSTs the announcement as JSON', async () => {
    const bodies: unknown[] = [];
    const url = await listen((req, res) => {
      let b = '';
      req.on('data', (d: Buffer) => (b += d.toString()));
      req.on('end', () => {
        bodies.push({
          method: req.method,
          type: req.headers['content-type'],
          body: JSON.parse(b) as unknown,
        });
        res.end('ok');
      });
    });
    const a = new Announcer({ sinks: [webhookSink({ url, timeoutMs: 2000 })], warn: () => {} });
    a.record(start);
    await a.flush();
    expect(bodies).toEqual([
      {
        method: 'POST',
        type: 'application/json',
        body: expect.objectContaining({
          event: 'START',
          cookbook: 'etcd.switchover',
          task: 'T358636',
          reason: 'DC switch',
          user: 'alice',
        }),
      },
    ]);
  });

  test('a receiver that never answers costs the run at most the timeout, and is reported once', async () => {
    const url = await listen(() => {
      /* never answers */
    });
    const warnings: string[] = [];
    const a = new Announcer({ sinks: [webhookSink({ url, timeoutMs: 300 })], warn: (l) => warnings.push(l) });
    const began = Date.now();
    a.record(start);
    a.record(end);
    await a.flush();
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(warnings).toEqual([expect.stringContaining('no answer within 300 ms')]);
  });

  test('an error status is a failure', async () => {
    const url = await listen((_req, res) => {
      res.statusCode = 500;
      res.end('boom');
    });
    const warnings: string[] = [];
    const a = new Announcer({
      sinks: [webhookSink({ url, timeoutMs: 2000 })],
      warn: (l) => warnings.push(l),
    });
    a.record(start);
    await a.flush();
    expect(warnings).toEqual([expect.stringContaining('answered 500')]);
  });
});

describe('waiting for input', () => {
  test('a prompt unanswered for the configured time is announced once; a quick answer is not', async () => {
    const waited: string[] = [];
    const slow = scriptedPrompter(['go']);
    const delayed = {
      ...slow,
      confirmStep: async (m: string, i: boolean) =>
        new Promise<'go' | 'skip' | 'abort'>((r) =>
          setTimeout(() => void slow.confirmStep(m, i).then(r), 200),
        ),
    };
    const p = waitingPrompter(delayed, 30, (q) => waited.push(q));
    expect(await p.confirmStep('Apply step 3?', false)).toBe('go');
    expect(waited).toEqual(['Apply step 3?']);
    const quick = waitingPrompter(scriptedPrompter(['yes']), 1000, (q) => waited.push(q));
    expect(await quick.yesNo('Roll back?')).toBe(true);
    expect(waited).toHaveLength(1);
  });
});
