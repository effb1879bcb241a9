/** Brings the test lab down after the integration tests, unless GALLEY_KEEP_LAB=1. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export default function globalTeardown(): void {
  const base = process.env.GALLEY_TEST_LAB_BASE ?? '127.21';
  const dir = process.env.GALLEY_TEST_LAB_DIR ?? '/tmp/galley-test-lab';
  if (process.env.GALLEY_KEEP_LAB === '1') {
    process.stderr.write(
      `test lab kept up (GALLEY_KEEP_LAB=1): GALLEY_LAB_DIR=${dir} cookbook lab down stops it\n`,
    );
    return;
  }
  const script = join(process.cwd(), 'test', 'integration', 'lab', 'control.ts');
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, 'down', dir, base], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  if (r.status !== 0) throw new Error(`the test lab did not stop cleanly (dir ${dir}):\n${r.stderr}`);
}
