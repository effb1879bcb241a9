#!/usr/bin/env node
// SSH fan-out: `cookbook exec` (the whole process, cold: node bin/run.js) side by side with the
// fan-out tools SREs already use (Debian packages cumin, clustershell, pssh, pdsh, ansible),
// running `true` on 10 and 50 lab hosts (bench[001-050].lab.wmnet), plus Galley's in-process
// figures (cold, then a second round on the open connections). Same SSH setup for every tool:
// key exchange ecdh-sha2-nistp256, the lab's key and known_hosts (strict checking), user root.
// Brings the lab up in this area's range (127.30 unless GALLEY_BENCH_SSH_BASE) if it is not up,
// and takes it down again if it started it. Prints one Markdown section on stdout.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = (p) => new URL(`../dist/src/${p}`, import.meta.url).href;
const { labUp, labDown } = await import(dist('lab/index.js'));
const { loadConfig } = await import(dist('config/load.js'));
const { openRemote } = await import(dist('ssh/remote.js'));
const { safeCmd } = await import(dist('ssh/command.js'));

const KEX = 'ecdh-sha2-nistp256';
const RUNS = Number(process.env.GALLEY_BENCH_SSH_RUNS ?? 3);
const base = process.env.GALLEY_BENCH_SSH_BASE ?? '127.30';
const labDir = process.env.GALLEY_BENCH_SSH_LAB_DIR ?? '/tmp/galley-ssh-bench-lab';
const log = (m) => process.stderr.write(`${m}\n`);

const up = await labUp({ base, dir: labDir, fresh: false });
const config = loadConfig(up.configFile);
const work = mkdtempSync(join(tmpdir(), 'galley-ssh-bench-'));
const cleanup = async () => {
  rmSync(work, { recursive: true, force: true });
  if (!up.reused) await labDown({ base, dir: labDir });
};

try {
  const bench = Object.keys(config.hosts)
    .filter((h) => /^bench\d+\.lab\.wmnet$/.test(h))
    .sort();
  if (bench.length < 50) throw new Error(`the lab has ${bench.length} bench hosts, 50 needed`);

  // One ssh_config for every OpenSSH-based tool: names to addresses, the lab's key and known_hosts.
  const sshConfig = join(work, 'ssh_config');
  writeFileSync(
    sshConfig,
    [
      ...bench.map(
        (h) => `Host ${h}\n  HostName ${config.hosts[h].address}\n  Port ${config.hosts[h].sshPort}`,
      ),
      'Host *',
      '  User root',
      `  IdentityFile ${config.ssh.keyFile}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${config.ssh.knownHosts}`,
      '  GlobalKnownHostsFile /dev/null',
      '  StrictHostKeyChecking yes',
      `  KexAlgorithms ${KEX}`,
      '  BatchMode yes',
      '  ControlMaster no',
      '  ControlPath none',
      '  LogLevel ERROR',
      '',
    ].join('\n'),
  );
  const cuminConfig = join(work, 'cumin.yaml');
  writeFileSync(
    cuminConfig,
    [
      'default_backend: direct',
      'transport: clustershell',
      `log_file: ${join(work, 'cumin.log')}`,
      'clustershell:',
      `  ssh_options: ['-F ${sshConfig}']`,
      '  fanout: 256',
      '',
    ].join('\n'),
  );
  const ansibleConfig = join(work, 'ansible.cfg');
  writeFileSync(ansibleConfig, '[defaults]\nhost_key_checking = True\n');
  const hostsFile = (n) => {
    const f = join(work, `hosts-${n}`);
    writeFileSync(f, `${bench.slice(0, n).join('\n')}\n`);
    return f;
  };
  const set = (n) => `bench[001-${String(n).padStart(3, '0')}].lab.wmnet`;
  const galleyConfig = join(work, 'galley.yaml');
  writeFileSync(galleyConfig, (await import('node:fs')).readFileSync(up.configFile, 'utf8'));

  /** Each tool: how to run `true` on n hosts, as one process. */
  const tools = [
    {
      name: 'cookbook exec (Galley)',
      bin: process.execPath,
      args: (n) => [join(root, 'bin/run.js'), 'exec', '-c', galleyConfig, set(n), '--', 'true'],
    },
    {
      name: 'Galley exec entry without oclif (dist/src/ssh/exec-main.js)',
      bin: process.execPath,
      args: (n) => [join(root, 'dist/src/ssh/exec-main.js'), set(n), '-c', galleyConfig, '--', 'true'],
    },
    {
      name: 'pssh (parallel-ssh)',
      bin: 'parallel-ssh',
      args: (n) => ['-h', hostsFile(n), '-p', '256', '-t', '60', '-x', `-F ${sshConfig}`, 'true'],
    },
    {
      name: 'pdsh',
      bin: 'pdsh',
      env: { PDSH_RCMD_TYPE: 'ssh', PDSH_SSH_ARGS: `-F ${sshConfig} -2 -a -x -l%u %h` },
      args: (n) => ['-f', '256', '-w', set(n), 'true'],
    },
    { name: 'cumin', bin: 'cumin', args: (n) => ['-c', cuminConfig, '--force', `D{${set(n)}}`, 'true'] },
    {
      name: 'clustershell (clush)',
      bin: 'clush',
      args: (n) => ['-f', '256', '-o', `-F ${sshConfig}`, '-w', set(n), 'true'],
    },
    {
      name: 'ansible `-m raw`',
      bin: 'ansible',
      env: {
        ANSIBLE_SSH_ARGS: `-F ${sshConfig}`,
        ANSIBLE_HOST_KEY_CHECKING: 'True',
        ANSIBLE_CONFIG: ansibleConfig,
        ANSIBLE_LOCAL_TEMP: join(work, 'ansible-tmp'),
        ANSIBLE_PYTHON_INTERPRETER: 'auto_silent',
      },
      args: (n) => ['all', '-i', `${bench.slice(0, n).join(',')},`, '-f', '256', '-m', 'raw', '-a', 'true'],
    },
  ].filter((t) => spawnSync('sh', ['-c', `command -v ${t.bin}`]).status === 0);

  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const sizes = [10, 50];
  const times = new Map(tools.map((t) => [t.name, { 10: [], 50: [] }]));
  // Rounds interleave the tools, so that a noisy moment on the shared machine hits all of them.
  for (let run = 0; run < RUNS; run++) {
    for (const n of sizes) {
      for (const t of tools) {
        const t0 = performance.now();
        const r = spawnSync(t.bin, t.args(n), {
          env: { ...process.env, ...(t.env ?? {}) },
          encoding: 'utf8',
          timeout: 60_000,
        });
        const seconds = (performance.now() - t0) / 1000;
        if (r.status !== 0) {
          log(
            `${t.name} failed on ${n} hosts (exit ${r.status}): ${(r.stderr || r.stdout || '').slice(0, 400)}`,
          );
          continue;
        }
        times.get(t.name)[n].push(seconds);
      }
    }
    log(`round ${run + 1}/${RUNS} done`);
  }

  // In-process: a fresh pool (cold connections), then a second round on the open connections.
  const inProcess = { cold: { 10: [], 50: [] }, warm: { 10: [], 50: [] } };
  for (let run = 0; run < RUNS; run++) {
    for (const n of sizes) {
      const remote = openRemote(config, { dryRun: false });
      const hosts = remote.hosts(set(n));
      for (const phase of ['cold', 'warm']) {
        const t0 = performance.now();
        const report = await remote.executor.execute(hosts, safeCmd`true`);
        const seconds = (performance.now() - t0) / 1000;
        if (!report.thresholdMet)
          throw new Error(
            `in-process ${phase} round failed: ${JSON.stringify(report.results.find((r) => r.exitCode !== 0))}`,
          );
        inProcess[phase][n].push(seconds);
      }
      await remote.close();
    }
  }

  const fmt = (xs) => (xs.length ? `${median(xs).toFixed(2)} s` : 'failed');
  const galley = times.get(tools[0].name);
  const ratio = (xs, n) =>
    xs.length && galley[n].length ? `${(median(xs) / median(galley[n])).toFixed(2)}×` : '';
  const lines = [
    '## SSH fan-out: `cookbook exec` against cumin, clush, pssh, pdsh, ansible',
    '',
    '| tool | 10 hosts | 50 hosts | time / cookbook exec (50 hosts) |',
    '|---|---|---|---|',
    ...tools.map((t) => {
      const x = times.get(t.name);
      return `| ${t.name} | ${fmt(x[10])} | ${fmt(x[50])} | ${ratio(x[50], 50)} |`;
    }),
    `| Galley in-process, cold (new connections) | ${fmt(inProcess.cold[10])} | ${fmt(inProcess.cold[50])} | |`,
    `| Galley in-process, warm (second round, open connections) | ${fmt(inProcess.warm[10])} | ${fmt(inProcess.warm[50])} | |`,
    '',
    `Method: \`true\` on the first 10 and all 50 bench hosts of the lab (loopback, sshd in host namespaces, same 2 shared cores), ` +
      `median of ${RUNS} runs, tools interleaved in each round. Every tool is one cold process from start to exit, ` +
      `with the same SSH setup: key exchange ${KEX}, the lab's ed25519 key and known_hosts with strict checking, user root, ` +
      `fan-out above 50 (pssh -p, pdsh -f, clush -f, cumin fanout, ansible -f 256), no connection sharing. ` +
      `Galley in-process opens one pool per round: "cold" is its first command (connect, authenticate, exec), ` +
      `"warm" a second command on the same pooled connections.`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
} finally {
  await cleanup();
}
