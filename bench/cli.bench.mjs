#!/usr/bin/env node
// Start-up of the built CLI: `cookbook --help`, `cookbook list`, a cookbook's --help, and a
// dry-run of the sample cookbook; median and p90 of 15 runs each, whole process.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const runs = 15;
const dir = mkdtempSync(join(tmpdir(), 'galley-bench-'));
const cases = [
  ['cookbook --help', ['--help']],
  ['cookbook list', ['list']],
  ['cookbook examples.files --help', ['examples.files', '--help']],
  ['cookbook examples.files DIR --dry-run', ['examples.files', join(dir, 'demo'), '--dry-run']],
];
const q = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const rows = [];
for (const [label, args] of cases) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(process.execPath, ['bin/run.js', ...args], {
      stdio: 'ignore',
      env: { ...process.env, GALLEY_STATE_DIR: dir },
    });
    if (r.status !== 0) throw new Error(`${label} exited ${r.status}`);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  rows.push(`| \`${label}\` | ${q(times, 0.5).toFixed(0)} ms | ${q(times, 0.9).toFixed(0)} ms |`);
}
const node = [];
for (let i = 0; i < runs; i++) {
  const t = process.hrtime.bigint();
  spawnSync(process.execPath, ['-e', '0']);
  node.push(Number(process.hrtime.bigint() - t) / 1e6);
}
console.log(`## CLI start-up

| command (built, \`bin/run.js\`) | median | p90 |
|---|---|---|
${rows.join('\n')}
| \`node -e 0\` (for reference) | ${q(node, 0.5).toFixed(0)} ms | ${q(node, 0.9).toFixed(0)} ms |

${runs} runs each, whole process (spawn to exit), no oclif manifest.`);
