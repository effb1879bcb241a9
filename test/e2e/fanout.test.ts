import { describe, expect, test } from '@jest/globals';
import { runCli } from '../support/cli.js';
import { labConfig, labConfigPath } from '../integration/lab.js';

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
    const r = runCli(['exec', 'bench[001-250].lab.wmnet', '--json', '--', 'true'], { GALLEY_CONFIG: labConfigPath() });
    const json = JSON.parse(r.stdout || '{}') as {
      successes?: number;
      results?: { host: string; exitCode: number | null; error?: string; success: boolean }[];
    };
    const failures = (json.results ?? []).filter((x) => !x.success).map((x) => `${x.host}: ${x.error ?? x.exitCode}`);
    expect({ code: r.code, failures: failures.slice(0, 5), stderr: r.stderr }).toEqual({ code: 0, failures: [], stderr: '' });
    expect(json.results?.map((x) => [x.host, x.exitCode])).toEqual(hosts.map((h) => [h, 0]));
    expect(json.successes).toBe(250);
  }, 180_000);
});
