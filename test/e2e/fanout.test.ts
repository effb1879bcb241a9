import { spawnSync } from 'node:child_process';
import { describe, expect, test } from '@jest/globals';
import { labConfig, labConfigPath } from '../integration/lab.js';

/** The CLI from the sources, as runCli runs it, with room for 250 cold connections on two slow (or shared) cores. */
function cookbook(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--no-warnings', 'bin/dev.js', ...args], {
    encoding: 'utf8',
    input: '',
    env: { ...process.env, NODE_OPTIONS: '', GALLEY_CONFIG: labConfigPath() },
    timeout: 500_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The bench hosts of the test lab, in name order. */
function benchHosts(): string[] {
  return Object.keys(labConfig().hosts)
    .filter((h) => /^bench\d+\.lab\.wmnet$/.test(h))
    .sort();
}

describe('cookbook exec at scale on the lab', () => {
  test('runs `true` on 250 bench hosts with the default fan-out, and every host succeeds with its own result', () => {
    const hosts = benchHosts().slice(0, 250);
    expect(hosts).toHaveLength(250);
    const r = cookbook(['exec', 'bench[001-250].lab.wmnet', '--json', '--', 'true']);
    const json = JSON.parse(r.stdout || '{}') as {
      successes?: number;
      results?: { host: string; exitCode: number | null; error?: string; success: boolean }[];
    };
    const failures = (json.results ?? [])
      .filter((x) => !x.success)
      .map((x) => `${x.host}: ${x.error ?? x.exitCode}`);
    expect({ code: r.code, failures: failures.slice(0, 5), stderr: r.stderr }).toEqual({
      code: 0,
      failures: [],
      stderr: '',
    });
    expect(json.results?.map((x) => [x.host, x.exitCode])).toEqual(hosts.map((h) => [h, 0]));
    expect(json.successes).toBe(250);
  }, 520_000);
});
