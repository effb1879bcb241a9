#!/usr/bin/env node
// `cookbook exec` is the hot path of ad-hoc fan-out: it skips oclif's start-up (a command with
// the very same flags, parsed by node:util; a unit test keeps the two in step). Everything
// else, and `exec --help`, goes through oclif.
const argv = process.argv.slice(2);
const beforeDashes = argv.indexOf('--') === -1 ? argv : argv.slice(0, argv.indexOf('--'));
if (argv[0] === 'exec' && !beforeDashes.includes('--help') && !beforeDashes.includes('-h')) {
  const { execMain } = await import('../dist/src/cli/exec.js');
  process.exitCode = await execMain(argv.slice(1));
} else {
  const { execute } = await import('@oclif/core');
  await execute({ dir: import.meta.url });
}
