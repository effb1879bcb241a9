#!/usr/bin/env node
// Start-up of the built CLI (with the oclif manifest `npm run build` writes): `cookbook --help`,
// `cookbook list`, a cookbook's --help, and a dry-run of the sample cookbook, side by side with
// two peers measured in the same rounds: a bare `node -e 0`, and a minimal oclif CLI (one
// command, explicit discovery and a manifest, the same @oclif/core). Whole process, spawn to
// exit; the cases take turns round after round, so that a change of load hits them all alike.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const rounds = Number(process.env.GALLEY_BENCH_ROUNDS ?? 21);
// GALLEY_BENCH_CLI_PEER=DIR: a built checkout of an earlier Galley (say, the one the 233 ms were
// measured on), timed in the same rounds, so a change shows as a ratio and not across runs.
const earlier = process.env.GALLEY_BENCH_CLI_PEER;
const dir = mkdtempSync(join(tmpdir(), 'galley-bench-'));

/** The peer: a minimal oclif CLI of one command, with its manifest, using the repository's node_modules. */
function minimalOclifCli() {
  const root = join(dir, 'peer');
  mkdirSync(join(root, 'bin'), { recursive: true });
  symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'));
  writeFileSync(
    join(root, 'package.json'),
    JSON.stringify({
      name: 'peer',
      version: '1.0.0',
      type: 'module',
      oclif: {
        bin: 'peer',
        commands: { strategy: 'explicit', target: './commands.js', identifier: 'commands' },
      },
    }),
  );
  writeFileSync(
    join(root, 'commands.js'),
    `import { Command, Flags } from '@oclif/core';
class Hello extends Command {
  static summary = 'Say hello';
  static flags = { name: Flags.string({ summary: 'who to greet' }) };
  async run() {
    const { flags } = await this.parse(Hello);
    this.log(\`hello \${flags.name ?? 'world'}\`);
  }
}
export const commands = { hello: Hello };
`,
  );
  writeFileSync(
    join(root, 'bin', 'run.js'),
    `import { execute } from '@oclif/core';\nawait execute({ dir: import.meta.url });\n`,
  );
  writeFileSync(
    join(root, 'manifest.mjs'),
    `import { writeFileSync } from 'node:fs';
import { Plugin } from '@oclif/core';
const plugin = new Plugin({ root: process.cwd(), type: 'core', isRoot: true, ignoreManifest: true });
await plugin.load();
writeFileSync('oclif.manifest.json', JSON.stringify(plugin.manifest));
`,
  );
  const r = spawnSync(process.execPath, ['manifest.mjs'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`peer manifest: ${r.stderr}`);
  return join(root, 'bin', 'run.js');
}

const peer = minimalOclifCli();
const gitHead = (d) =>
  spawnSync('git', ['-C', d, 'log', '-1', '--format=%h'], { encoding: 'utf8' }).stdout.trim();
const cookbook = join(repo, 'bin', 'run.js');
const cases = [
  { label: '`cookbook --help`', argv: [cookbook, '--help'], peer: 'peer --help' },
  { label: '`cookbook list`', argv: [cookbook, 'list'], peer: 'peer hello' },
  {
    label: '`cookbook examples.files --help`',
    argv: [cookbook, 'examples.files', '--help'],
    peer: 'peer hello --help',
  },
  {
    label: '`cookbook examples.files DIR --dry-run`',
    argv: [cookbook, 'examples.files', join(dir, 'demo'), '--dry-run'],
    peer: 'peer hello',
  },
  { label: 'peer: minimal oclif CLI `--help`', id: 'peer --help', argv: [peer, '--help'] },
  { label: 'peer: minimal oclif CLI `hello`', id: 'peer hello', argv: [peer, 'hello'] },
  {
    label: 'peer: minimal oclif CLI `hello --help`',
    id: 'peer hello --help',
    argv: [peer, 'hello', '--help'],
  },
  { label: 'peer: `node -e 0`', id: 'node', argv: ['-e', '0'] },
];
if (earlier) {
  const old = join(earlier, 'bin', 'run.js');
  cases.splice(
    4,
    0,
    { label: `earlier build: \`cookbook --help\``, id: 'old --help', argv: [old, '--help'] },
    { label: `earlier build: \`cookbook list\``, id: 'old list', argv: [old, 'list'] },
    {
      label: `earlier build: \`cookbook examples.files --help\``,
      id: 'old examples.files --help',
      argv: [old, 'examples.files', '--help'],
    },
  );
  for (const c of cases.slice(0, 3)) c.old = `old ${c.argv.slice(1).join(' ')}`;
}
const load = [loadavg()[0]];
const times = cases.map(() => []);
for (let i = 0; i < rounds; i++) {
  cases.forEach((c, k) => {
    const t = process.hrtime.bigint();
    const r = spawnSync(process.execPath, c.argv, {
      stdio: 'ignore',
      env: { ...process.env, GALLEY_STATE_DIR: dir },
    });
    if (r.status !== 0) throw new Error(`${c.label} exited ${r.status}`);
    if (i > 0) times[k].push(Number(process.hrtime.bigint() - t) / 1e6); // round 0 warms the disk cache
  });
  if (i === Math.floor(rounds / 2)) load.push(loadavg()[0]);
}
load.push(loadavg()[0]);
const q = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const median = (label) => q(times[cases.findIndex((c) => c.id === label)], 0.5);
const rows = cases.map((c, k) => {
  const m = q(times[k], 0.5);
  const ratios = [
    c.peer ? `${(m / median(c.peer)).toFixed(2)}× \`${c.peer.replace('peer ', '')}\`` : '',
    `${(m / median('node')).toFixed(2)}×`,
    c.old ? `${(m / median(c.old)).toFixed(2)}×` : '',
  ];
  const cells = [ratios[0], ratios[1], ...(earlier ? [ratios[2]] : [])];
  return `| ${c.label} | ${m.toFixed(0)} ms | ${q(times[k], 0.9).toFixed(0)} ms | ${cells.join(' | ')} |`;
});
console.log(`## CLI start-up

| command (built, \`bin/run.js\`, with its oclif manifest) | median | p90 | vs minimal oclif CLI | vs \`node -e 0\` |${earlier ? ' vs earlier build |' : ''}
|---|---|---|---|---|${earlier ? '---|' : ''}
${rows.join('\n')}
${earlier ? `\nEarlier build: \`${earlier}\` (git ${gitHead(earlier)}), timed in the same rounds.\n` : ''}
${rounds - 1} rounds (after one warm-up round), the cases taking turns in each; whole process, spawn
to exit. Load average (1 min) at the start, middle and end: ${load.map((l) => l.toFixed(2)).join(', ')}.
Measured ${new Date().toISOString()}. Goal: \`cookbook list\` and a cookbook's \`--help\` under 200 ms.`);
rmSync(dir, { recursive: true, force: true }); // the state directory and the peer CLI
