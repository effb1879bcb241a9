/**
 * Brings the test lab up or down from a child process (node --import tsx): jest loads its
 * global setup and teardown outside its module system, where `.js` imports of TypeScript
 * sources do not resolve. Usage: control.ts up|down DIR BASE [BENCH_HOSTS] [--reuse]. Prints one JSON line.
 */
import { labDown, labUp } from '../../../src/lab/index.js';
import { formatError } from '../../../src/core/errors.js';

const [action, dir, base, ...rest] = process.argv.slice(2);
const flag = rest.find((a) => a.startsWith('--'));
const benchHosts = rest.find((a) => /^\d+$/.test(a));
try {
  if (!dir || !base) throw new Error('usage: control.ts up|down DIR BASE [BENCH_HOSTS] [--reuse]');
  if (action === 'up') {
    process.stdout.write(
      JSON.stringify(
        await labUp({
          dir,
          base,
          benchHosts: benchHosts === undefined ? undefined : Number(benchHosts),
          fresh: flag !== '--reuse',
        }),
      ) + '\n',
    );
  } else if (action === 'down') {
    process.stdout.write(JSON.stringify(await labDown({ dir, base })) + '\n');
  } else {
    throw new Error(`unknown action ${action}: up or down`);
  }
} catch (e) {
  process.stderr.write(`${formatError(e)}\n`);
  process.exitCode = 1;
}
