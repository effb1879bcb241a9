import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { safeCmd } from '../../../src/ssh/command.js';
import { openRemote, type Remote } from '../../../src/ssh/remote.js';
import { ServiceControl } from '../../../src/ssh/services.js';
import { labConfig, labConfigPath } from '../lab.js';

const devBin = fileURLToPath(new URL('../../../bin/dev.js', import.meta.url));

/** Runs the CLI as an operator would, returning its exit code and output. */
function cookbook(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'node',
      [devBin, ...args],
      { env: { ...process.env, GALLEY_CONFIG: labConfigPath() } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 99) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let remote: Remote;

beforeAll(() => {
  remote = openRemote(labConfig(), { dryRun: false });
});

afterAll(async () => {
  await remote?.close();
});

describe('SSH fan-out on the lab', () => {
  test('a command runs on 50 bench hosts in batches', async () => {
    const hosts = remote.hosts('bench[001-050].lab.wmnet');
    expect(hosts).toHaveLength(50);
    let lastDone = 0;
    const report = await remote.executor.execute(hosts, safeCmd`echo ${'ok'}`, {
      batchSize: { percent: 20 },
      onProgress: (p) => (lastDone = p.done),
    });
    expect(report.results.filter((r) => r.exitCode === 0 && r.stdout === 'ok\n')).toHaveLength(50);
    expect(lastDone).toBe(50);
    expect(report.thresholdMet).toBe(true);
  });

  test('each lab host answers with its own hostname', async () => {
    const hosts = remote.hosts('A:conf-codfw');
    const report = await remote.executor.execute(hosts, safeCmd`hostname`);
    expect(report.results.map((r) => r.stdout.trim())).toEqual(hosts);
  });

  test('restarting a unit returns its previous state, and stop then undo brings it back', async () => {
    const host = 'conf2006.codfw.wmnet';
    const services = new ServiceControl(remote.executor);
    const restart = await services.restart(host, 'nginx');
    expect(restart.previous).toBe('active');
    await services.waitForState(host, 'nginx', 'active', { timeoutMs: 10_000, intervalMs: 200 });
    const stop = await services.stop(host, 'nginx');
    try {
      await services.waitForState(host, 'nginx', 'inactive', { timeoutMs: 10_000, intervalMs: 200 });
    } finally {
      await services.restore(stop);
    }
    await services.waitForState(host, 'nginx', 'active', { timeoutMs: 10_000, intervalMs: 200 });
  }, 40_000);
});

describe('cookbook exec on the lab', () => {
  test('prints JSON per host and exits 0 when the threshold is met', async () => {
    const r = await cookbook([
      'exec',
      'conf200[4-6].codfw.wmnet',
      '--json',
      '--',
      'systemctl',
      'is-active',
      'etcd',
    ]);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout) as { results: { host: string; stdout: string; exitCode: number }[] };
    expect(json.results.map((x) => [x.host, x.stdout, x.exitCode])).toEqual([
      ['conf2004.codfw.wmnet', 'active\n', 0],
      ['conf2005.codfw.wmnet', 'active\n', 0],
      ['conf2006.codfw.wmnet', 'active\n', 0],
    ]);
  }, 30_000);

  test('exits 1 when the success threshold is not met', async () => {
    const r = await cookbook(['exec', 'A:conf-codfw', '--', 'test "$(hostname)" = conf2004.codfw.wmnet']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('FAIL: 33.3% (1/3) success ratio');
  }, 30_000);

  test('an unknown host is one line naming it and exit code 2', async () => {
    const r = await cookbook(['exec', 'conf200[4-7].codfw.wmnet', '--', 'true']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^cookbook exec: unknown host "conf2007\.codfw\.wmnet": not in the config's hosts Try: did you mean .*conf2004\.codfw\.wmnet/m,
    );
  }, 30_000);
});
