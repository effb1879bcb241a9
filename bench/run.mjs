#!/usr/bin/env node
// Runs every bench/*.bench.mjs in turn (each prints one Markdown section on stdout) and
// writes them, with the machine they ran on, into bench/RESULTS.md.
// Usage: npm run bench [-- NAME…]   (e.g. `npm run bench -- cli ssh`)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const benches = readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => !only.length || only.includes(f.replace('.bench.mjs', '')))
  .sort();
const sections = [];
for (const f of benches) {
  process.stderr.write(`bench: ${f}…\n`);
  const started = Date.now();
  const r = spawnSync(process.execPath, [join(here, f)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 90 * 60_000,
  });
  const secs = ((Date.now() - started) / 1000).toFixed(0);
  if (r.status !== 0) {
    sections.push(`## ${f}\n\nFAILED (exit ${r.status ?? r.signal}) after ${secs} s.\n\n${r.stdout}`);
    process.stderr.write(`bench: ${f} failed (exit ${r.status ?? r.signal})\n`);
  } else sections.push(r.stdout.trim());
}
// A run of some benches replaces their sections and keeps the others of the last run, so that
// `npm run bench -- ssh` does not erase the rest of the file.
const results = join(here, 'RESULTS.md');
const previous = existsSync(results) ? readFileSync(results, 'utf8') : '';
const titleOf = (section) => section.split('\n', 1)[0];
const kept = previous
  .split(/\n(?=## )/)
  .slice(1)
  .map((s) => s.trim())
  .filter((s) => !sections.some((n) => titleOf(n) === titleOf(s)));
const measured = new Date().toISOString();
const header = [
  '# Benchmark results',
  '',
  `Last run ${measured} (${only.length ? only.join(', ') : 'every bench'}) on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}.`,
  'Each section says when and under what load it was measured: compare ratios measured side by side in one run, not absolute times across runs.',
  'Regenerate with `npm run bench` (or `npm run bench -- NAME…` to re-measure some sections and keep the others).',
  '',
].join('\n');
writeFileSync(results, `${header}\n${[...sections, ...kept].join('\n\n')}\n`);
process.stderr.write(`bench: wrote ${results}\n`);
