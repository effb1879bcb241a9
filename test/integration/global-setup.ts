/**
 * Brings up the test lab for the integration tests (its own range and state directory, so it
 * never touches an operator's lab) and exports GALLEY_TEST_CONFIG, GALLEY_TEST_LAB_DIR and
 * GALLEY_TEST_LAB_BASE. GALLEY_TEST_LAB_BASE (default 127.21) and GALLEY_TEST_LAB_DIR (default
 * /tmp/galley-test-lab) choose where; GALLEY_TEST_LAB_BENCH_HOSTS its number of bench hosts
 * (default 250, for the 250-host fan-out test); GALLEY_REUSE_LAB=1 keeps a healthy lab already up.
 * The lab library runs in a child process (see lab/control.ts).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** Enough bench hosts for the 250-host fan-out test (16 small sshd processes, about a second more to start). */
const TEST_LAB_BENCH_HOSTS = 250;

export default function globalSetup(): void {
  const base = process.env.GALLEY_TEST_LAB_BASE ?? '127.21';
  const dir = process.env.GALLEY_TEST_LAB_DIR ?? '/tmp/galley-test-lab';
  const benchHosts = process.env.GALLEY_TEST_LAB_BENCH_HOSTS ?? String(TEST_LAB_BENCH_HOSTS);
  const args = [
    '--import',
    'tsx',
    join(process.cwd(), 'test', 'integration', 'lab', 'control.ts'),
    'up',
    dir,
    base,
    benchHosts,
  ];
  if (process.env.GALLEY_REUSE_LAB === '1') args.push('--reuse');
  const r = spawnSync(process.execPath, args, {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  if (r.status !== 0)
    throw new Error(`the test lab did not come up (base ${base}, dir ${dir}):\n${r.stderr}`);
  const result = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
    configFile: string;
    seconds: number;
    reused: boolean;
  };
  process.env.GALLEY_TEST_CONFIG = result.configFile;
  process.env.GALLEY_TEST_LAB_DIR = dir;
  process.env.GALLEY_TEST_LAB_BASE = base;
  process.env.GALLEY_TEST_LAB_BENCH_HOSTS = benchHosts;
  process.stderr.write(
    `\ntest lab ${result.reused ? 'reused' : 'up'} in ${result.seconds.toFixed(1)} s (base ${base}, dir ${dir})\n`,
  );
}
