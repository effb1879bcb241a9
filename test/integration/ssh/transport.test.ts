import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { loadConfig } from '../../../src/config/load.js';
import { cmd, safeCmd } from '../../../src/ssh/command.js';
import { HostSetError } from '../../../src/ssh/errors.js';
import { loadIdentity } from '../../../src/ssh/identity.js';
import { KnownHosts } from '../../../src/ssh/known-hosts.js';
import { SshPool } from '../../../src/ssh/pool.js';
import { endpointFromConfig, openRemote, type Remote } from '../../../src/ssh/remote.js';
import { ServiceControl } from '../../../src/ssh/services.js';
import { startSshd, type SshdFixture } from './sshd-fixture.js';

/** The fingerprint as OpenSSH itself computes it: an independent oracle for our messages. */
function sshKeygenFingerprint(pub: string): string {
  const file = `/tmp/galley-ssh-it-fp-${process.pid}.pub`;
  writeFileSync(file, `${pub}\n`);
  try {
    return execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', file]).toString().split(' ')[1] ?? '';
  } finally {
    rmSync(file, { force: true });
  }
}

let sshd: SshdFixture;
let remote: Remote;

beforeAll(async () => {
  sshd = await startSshd(4);
  remote = openRemote(loadConfig(sshd.configFile), { dryRun: false });
}, 20_000);

afterAll(async () => {
  await remote?.close();
  await sshd?.stop();
});

/** Opens a separate run (own pool) on a config, closing it afterwards. */
async function withRemote<T>(
  configFile: string,
  options: { dryRun: boolean },
  fn: (r: Remote) => Promise<T>,
): Promise<T> {
  const r = openRemote(loadConfig(configFile), options);
  try {
    return await fn(r);
  } finally {
    await r.close();
  }
}

/** A pool of its own on the fixture's hosts, with the given identity (and protocol trace). */
function fixturePool(
  identity: ReturnType<typeof loadIdentity>,
  protocolDebug?: (host: string, line: string) => void,
): SshPool {
  const config = loadConfig(sshd.configFile);
  return new SshPool({
    username: 'root',
    identity,
    knownHosts: KnownHosts.load(sshd.knownHostsFile),
    connectTimeoutMs: 5000,
    endpoint: (host) => endpointFromConfig(config, host),
    protocolDebug,
  });
}

describe('commands on real sshd', () => {
  test('each host returns its own exit code, stdout and stderr', async () => {
    const report = await remote.executor.execute(
      remote.hosts('t[1-2].ssh.test'),
      safeCmd`echo out; echo err >&2; exit 7`,
    );
    expect(report.results.map((r) => [r.host, r.exitCode, r.stdout, r.stderr, r.error])).toEqual([
      ['t1.ssh.test', 7, 'out\n', 'err\n', undefined],
      ['t2.ssh.test', 7, 'out\n', 'err\n', undefined],
    ]);
    expect(report.thresholdMet).toBe(false);
  });

  test('each host is reached at its configured address (and a non-22 ssh_port)', async () => {
    const report = await remote.executor.execute(
      remote.hosts('A:all,t5.ssh.test'),
      safeCmd`echo $SSH_CONNECTION`,
    );
    expect(report.results.map((r) => [r.host, r.stdout.trim().split(' ').slice(2).join(':')])).toEqual([
      ['t1.ssh.test', '127.30.0.1:22'],
      ['t2.ssh.test', '127.30.0.2:22'],
      ['t3.ssh.test', '127.30.0.3:22'],
      ['t4.ssh.test', '127.30.0.4:22'],
      ['t5.ssh.test', '127.30.0.5:2222'],
    ]);
  });

  test('stdin is delivered to the command', async () => {
    const report = await remote.executor.execute(['t1.ssh.test'], safeCmd`tr a-z A-Z`, { stdin: 'hello\n' });
    expect(report.results[0]?.stdout).toBe('HELLO\n');
  });

  test('a command past its timeout is stopped on the host, reported as timed out, and the connection stays usable', async () => {
    const report = await remote.executor.execute(['t3.ssh.test'], safeCmd`sleep 31`, { timeoutMs: 300 });
    expect(report.results[0]?.error).toBe('timed out after 0.3s');
    const after = await remote.executor.execute(
      ['t3.ssh.test'],
      safeCmd`pgrep -fx ${'sleep 31'} || echo none left`,
    );
    expect(after.results[0]?.stdout).toBe('none left\n');
  });

  test('a shell loop past its timeout is stopped as a whole, and a daemon it started survives', async () => {
    const loop = safeCmd`setsid sleep 37 </dev/null >/dev/null 2>&1 & while :; do sleep 0.2; done`;
    const report = await remote.executor.execute(['t4.ssh.test'], loop, { timeoutMs: 500 });
    expect(report.results[0]?.error).toBe('timed out after 0.5s');
    // The patterns are written so that they do not match this checking command itself.
    const after = await remote.executor.execute(
      ['t4.ssh.test'],
      safeCmd`pgrep -f ${'while :; do sleep 0[.]2'} || echo loop gone; daemon=$(pgrep -fx ${'sleep 37'}) && echo daemon alive && kill $daemon; true`,
    );
    expect(after.results[0]?.stdout).toBe('loop gone\ndaemon alive\n');
  });

  test('one connection per host is reused by every command of the run', async () => {
    // $SSH_CONNECTION names the client's source port: the same port means the same TCP connection.
    const hosts = remote.hosts('A:all');
    const first = await remote.executor.execute(hosts, safeCmd`echo $SSH_CONNECTION`);
    const opened = remote.pool.connectionsOpened;
    const second = await remote.executor.execute(hosts, safeCmd`echo $SSH_CONNECTION`);
    expect(second.results.map((r) => r.stdout)).toEqual(first.results.map((r) => r.stdout));
    expect(new Set(first.results.map((r) => r.stdout)).size).toBe(hosts.length);
    expect(remote.pool.connectionsOpened).toBe(opened);
  });

  test('a one-shot pool (cookbook exec) ends each connection with its command: no session stays open', async () => {
    const oneShot = openRemote(loadConfig(sshd.configFile), { dryRun: false, oneShot: true });
    try {
      const hosts = oneShot.hosts('A:all');
      const first = await oneShot.executor.execute(hosts, safeCmd`echo $SSH_CONNECTION`);
      expect(first.successes).toBe(hosts.length);
      expect(oneShot.pool.openConnections).toBe(0);
      // A second command opens new connections (new source ports): nothing was kept.
      const second = await oneShot.executor.execute(hosts, safeCmd`echo $SSH_CONNECTION`);
      expect(oneShot.pool.connectionsOpened).toBe(2 * hosts.length);
      for (const [i, r] of second.results.entries()) expect(r.stdout).not.toBe(first.results[i]!.stdout);
    } finally {
      await oneShot.close();
    }
  });

  test('one-shot, a host holds its slot of the window until its command has ended: with --fanout 1 no two commands overlap', async () => {
    const oneShot = openRemote(loadConfig(sshd.configFile), { dryRun: false, oneShot: true, fanout: 1 });
    try {
      const hosts = oneShot.hosts('A:all');
      const report = await oneShot.executor.execute(hosts, safeCmd`date +%s.%N; sleep 0.3; date +%s.%N`);
      expect(report.successes).toBe(hosts.length);
      const spans = report.results
        .map((r) => r.stdout.trim().split('\n').map(Number) as [number, number])
        .sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    } finally {
      await oneShot.close();
    }
  });

  test('an unreachable host is a failed result naming it and its address, not an exception', async () => {
    const report = await remote.executor.execute(remote.hosts('t1.ssh.test,down.ssh.test'), safeCmd`true`, {
      successThreshold: 0.5,
    });
    expect(report.results[0]?.exitCode).toBe(0);
    expect(report.results[1]).toMatchObject({ host: 'down.ssh.test', exitCode: null });
    expect(report.results[1]?.error).toMatch(
      /^cannot connect to down\.ssh\.test \(127\.30\.0\.99:22\): connection refused opening the TCP connection \(\d+ attempts over [\d.]+s\)$/,
    );
    expect(report.thresholdMet).toBe(true);
  });
});

describe('connection setup on real sshd', () => {
  test('a host that accepts TCP but never speaks SSH fails after the connect timeout', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(22, '127.30.0.98', resolve));
    try {
      const report = await remote.executor.execute(['mute.ssh.test'], safeCmd`true`);
      expect(report.results[0]?.error).toBe(
        "cannot connect to mute.ssh.test (127.30.0.98:22): timed out after 2s waiting for the SSH server's greeting (TCP connected, the server never spoke)",
      );
    } finally {
      silent.close();
    }
  });

  test('without a key file, the key held by ssh-agent is used', async () => {
    const agentSocket = join(sshd.dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', agentSocket], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && !existsSync(agentSocket); i++) await delay(20);
      execFileSync('ssh-add', [sshd.keyFile], {
        env: { ...process.env, SSH_AUTH_SOCK: agentSocket },
        stdio: 'ignore',
      });
      const pool = fixturePool(loadIdentity('', { SSH_AUTH_SOCK: agentSocket }));
      try {
        const r = await pool.exec('t2.ssh.test', 'echo via agent', { timeoutMs: 5000 });
        expect([r.exitCode, r.stdout]).toEqual([0, 'via agent\n']);
      } finally {
        await pool.close();
      }
    } finally {
      agent.kill('SIGTERM');
    }
  });

  test("sshd's host key announcement is answered with an IGNORE: the server is never asked to prove its keys", async () => {
    const lines: string[] = [];
    const pool = fixturePool(loadIdentity(sshd.keyFile), (host, line) => lines.push(`${host} ${line}`));
    try {
      const r = await pool.exec('t3.ssh.test', 'echo answered', { timeoutMs: 5000 });
      expect([r.exitCode, r.stdout]).toEqual([0, 'answered\n']);
    } finally {
      await pool.close();
    }
    const announced = lines.findIndex((l) => l.includes('Inbound: GLOBAL_REQUEST (hostkeys-00@openssh.com)'));
    expect(announced).toBeGreaterThan(-1);
    expect(lines[announced + 1]).toBe(
      't3.ssh.test Outbound: Sending IGNORE (answering hostkeys-00@openssh.com)',
    );
    expect(lines.filter((l) => l.includes('hostkeys-prove'))).toEqual([]);
  });

  test('authentication is one signed request: no query first, no PK_OK', async () => {
    const lines: string[] = [];
    const pool = fixturePool(loadIdentity(sshd.keyFile), (_host, line) => lines.push(line));
    try {
      const r = await pool.exec('t4.ssh.test', 'echo signed', { timeoutMs: 5000 });
      expect([r.exitCode, r.stdout]).toEqual([0, 'signed\n']);
    } finally {
      await pool.close();
    }
    expect(lines.filter((l) => /USERAUTH/.test(l))).toEqual([
      'Outbound: Sending USERAUTH_REQUEST (publickey)',
      'Inbound: Received USERAUTH_SUCCESS',
    ]);
  });

  test('a key the server does not accept is refused, naming the host: one failed result, no exception', async () => {
    const keyFile = join(sshd.dir, 'unknown_key');
    rmSync(keyFile, { force: true });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
    const pool = fixturePool(loadIdentity(keyFile));
    try {
      const r = await pool.exec('t1.ssh.test', 'true', { timeoutMs: 5000 });
      expect([r.exitCode, r.error]).toEqual([
        null,
        'cannot connect to t1.ssh.test (127.30.0.1:22): All configured authentication methods failed while authenticating',
      ]);
    } finally {
      await pool.close();
    }
  });
});

describe('batches and thresholds on real sshd', () => {
  const failOnT1 = safeCmd`case "$SSH_CONNECTION" in *' 127.30.0.1 22') exit 1 ;; esac; echo ok`;

  test('a failure that makes the threshold unreachable stops the next batches', async () => {
    const report = await remote.executor.execute(remote.hosts('A:all'), failOnT1, {
      batchSize: { count: 1 },
    });
    expect(report.results.map((r) => [r.host, r.exitCode])).toEqual([['t1.ssh.test', 1]]);
    expect(report.notRun).toEqual(['t2.ssh.test', 't3.ssh.test', 't4.ssh.test']);
    expect(report.thresholdMet).toBe(false);
  });

  test('a failure within the threshold lets every batch run', async () => {
    const report = await remote.executor.execute(remote.hosts('A:all'), failOnT1, {
      batchSize: { percent: 50 },
      successThreshold: 0.75,
      batchSleepMs: 10,
    });
    expect(report.results.map((r) => [r.host, r.exitCode])).toEqual([
      ['t1.ssh.test', 1],
      ['t2.ssh.test', 0],
      ['t3.ssh.test', 0],
      ['t4.ssh.test', 0],
    ]);
    expect(report).toMatchObject({ notRun: [], successes: 3, thresholdMet: true });
  });
});

describe('strict host key checking on real sshd', () => {
  test('a changed host key is refused, naming the host and both SHA256 fingerprints', async () => {
    const [type, otherKey] = sshd.otherHostKeyPub.split(' ');
    const config = sshd.withKnownHosts('changed', `127.30.0.1 ${type} ${otherKey}\n`);
    const report = await withRemote(config, { dryRun: false }, (r) =>
      r.executor.execute(['t1.ssh.test'], cmd`touch /tmp/galley-ssh-it-must-not-exist`),
    );
    const error = report.results[0]?.error ?? '';
    expect(error).toContain('host key of t1.ssh.test has CHANGED');
    expect(error).toContain(sshKeygenFingerprint(sshd.otherHostKeyPub));
    expect(error).toContain(sshKeygenFingerprint(sshd.hostKeyPub));
    expect(existsSync('/tmp/galley-ssh-it-must-not-exist')).toBe(false);
  });

  test('an unknown host is refused with the command to add its key', async () => {
    const config = sshd.withKnownHosts('unknown', '');
    const report = await withRemote(config, { dryRun: false }, (r) =>
      r.executor.execute(['t2.ssh.test'], safeCmd`true`),
    );
    const error = report.results[0]?.error ?? '';
    expect(error).toContain('host key of t2.ssh.test is unknown');
    expect(error).toContain(sshKeygenFingerprint(sshd.hostKeyPub));
    expect(report.results[0]?.exitCode).toBeNull();
  });

  test('hashed known_hosts entries (ssh-keygen -H) are accepted', async () => {
    const config = sshd.withKnownHosts('hashed', readFileSync(sshd.knownHostsFile, 'utf8'));
    const khFile = config.replace(/config\.hashed\.yaml$/, 'known_hosts.hashed');
    execFileSync('ssh-keygen', ['-H', '-f', khFile], { stdio: 'ignore' });
    expect(readFileSync(khFile, 'utf8')).toMatch(/^\|1\|/);
    const report = await withRemote(config, { dryRun: false }, (r) =>
      r.executor.execute(r.hosts('t1.ssh.test,t5.ssh.test'), safeCmd`true`),
    );
    expect(report.results.map((r) => r.exitCode)).toEqual([0, 0]);
  });
});

describe('injection attempts on real sshd', () => {
  const marker = '/tmp/galley-ssh-it-injected';

  test('an argument carrying "; touch" arrives as one word and runs nothing', async () => {
    rmSync(marker, { force: true });
    const hostile = `x; touch ${marker}`;
    const report = await remote.executor.execute(
      ['t1.ssh.test'],
      safeCmd`printf '%s\\0' ${hostile} ${'$(touch ' + marker + ')'} ${'`touch ' + marker + '`'}`,
    );
    expect(report.results[0]?.stdout.split('\0').slice(0, -1)).toEqual([
      hostile,
      `$(touch ${marker})`,
      `\`touch ${marker}\``,
    ]);
    expect(existsSync(marker)).toBe(false);
  });

  test('argv words given through the RemoteRunner interface are each one word', async () => {
    const r = await remote.executor.run(
      't2.ssh.test',
      ['printf', '%s|', "it's", 'a b', `; touch ${marker}`],
      { isSafe: true },
    );
    expect(r.stdout).toBe(`it's|a b|; touch ${marker}|`);
    expect(existsSync(marker)).toBe(false);
  });

  test('a host name carrying a command is refused before any connection', () => {
    const before = remote.pool.connectionsOpened;
    expect(() => remote.hosts(`t1.ssh.test;touch ${marker}`)).toThrow(HostSetError);
    expect(() => remote.hosts('t1.ssh.test$(reboot)')).toThrow(HostSetError);
    expect(remote.pool.connectionsOpened).toBe(before);
  });
});

describe('dry-run on real sshd', () => {
  test('dry-run sends nothing unsafe: no connection is even opened', async () => {
    const marker = '/tmp/galley-ssh-it-dry-run';
    rmSync(marker, { force: true });
    const { report, opened } = await withRemote(sshd.configFile, { dryRun: true }, async (r) => ({
      report: await r.executor.execute(r.hosts('A:all'), cmd`touch ${marker}`),
      opened: r.pool.connectionsOpened,
    }));
    expect(report.dryRun).toBe(true);
    expect(report.results.every((r) => r.wouldRun)).toBe(true);
    expect(opened).toBe(0);
    expect(existsSync(marker)).toBe(false);
  });

  test('dry-run runs safe (read-only) commands', async () => {
    const report = await withRemote(sshd.configFile, { dryRun: true }, (r) =>
      r.executor.execute(['t1.ssh.test'], safeCmd`echo read-only`),
    );
    expect(report.results[0]?.stdout).toBe('read-only\n');
  });
});

describe('service control on real sshd', () => {
  test('stop, verify, and undo restores the previous active state', async () => {
    const services = new ServiceControl(remote.executor);
    await services.start('t1.ssh.test', 'galley-demo');
    const change = await services.stop('t1.ssh.test', 'galley-demo');
    expect(change.previous).toBe('active');
    await services.waitForState('t1.ssh.test', 'galley-demo', 'inactive', {
      timeoutMs: 5000,
      intervalMs: 100,
    });
    await services.restore(change);
    await services.waitForState('t1.ssh.test', 'galley-demo', 'active', { timeoutMs: 5000, intervalMs: 100 });
  });

  test('in dry-run a stop is shown, and the unit keeps running', async () => {
    const services = new ServiceControl(remote.executor);
    await services.start('t1.ssh.test', 'galley-demo');
    const change = await withRemote(sshd.configFile, { dryRun: true }, (r) =>
      new ServiceControl(r.executor).stop('t1.ssh.test', 'galley-demo'),
    );
    expect(change).toMatchObject({ previous: 'active', wouldRun: true });
    expect(await services.isActive('t1.ssh.test', 'galley-demo')).toBe('active');
  });
});
