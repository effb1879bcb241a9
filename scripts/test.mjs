#!/usr/bin/env node
// Runs jest (unit tests, then the lab's integration tests in band) and prints the one
// closing line CI reads: "N passed, N failed". Usage: node scripts/test.mjs [unit|integration] [jest args…]
import { spawnSync } from 'node:child_process';
import { readFileSync, mkdirSync } from 'node:fs';

const which = process.argv[2] === 'unit' || process.argv[2] === 'integration' ? process.argv[2] : 'all';
const extra = process.argv.slice(which === 'all' ? 2 : 3);
const projects = which === 'all' ? ['unit', 'integration'] : [which];
mkdirSync('test-results', { recursive: true });
let passed = 0;
let failed = 0;
let status = 0;
for (const project of projects) {
  const out = `test-results/${project}.json`;
  const args = ['jest', '--selectProjects', project, '--json', `--outputFile=${out}`, ...extra];
  if (project === 'integration') args.push('--runInBand');
  const r = spawnSync('npx', args, {
    stdio: 'inherit',
    env: { ...process.env, NODE_OPTIONS: '--experimental-vm-modules --disable-warning=ExperimentalWarning' },
  });
  try {
    const res = JSON.parse(readFileSync(out, 'utf8'));
    passed += res.numPassedTests;
    failed += res.numFailedTests;
    if (res.numRuntimeErrorTestSuites > 0) failed += res.numRuntimeErrorTestSuites;
  } catch {
    failed += 1;
  }
  if (r.status !== 0) status = r.status ?? 1;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(status);
