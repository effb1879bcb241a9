#!/usr/bin/env node
// SSH fan-out at production scale: `true` on 50, 250 and 1,000 lab hosts. `cookbook exec` (the
// whole process, cold: node bin/run.js) side by side with the fan-out tools SREs already use
// (Debian packages pssh, pdsh, clustershell, cumin), each at its usual fan-out and, up to
// GALLEY_BENCH_SSH_FULL_FANOUT_MAX hosts, at a fan-out equal to the host count; plus Galley
// in-process, cold then warm (a second round on the open connections). Tools are interleaved in
// every round. The floor: the CPU sshd spends per connection (read from /proc of the bench sshd
// processes around every run, children included) × hosts ÷ cores.
// Same SSH setup for every tool: key exchange ecdh-sha2-nistp256, the lab's key and known_hosts
// (strict checking), user root. Brings the lab up with 1,000 bench hosts in this area's range
// (GALLEY_BENCH_SSH_BASE, default 127.30) if it is not up, and takes it down again if it started
// it. A missing peer is skipped and named. Prints one Markdown section on stdout.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = (p) => new URL(`../dist/src/${p}`, import.meta.url).href;
const { labUp, labDown } = await import(dist('lab/index.js'));
const { loadConfig } = await import(dist('config/load.js'));
const { openRemote } = await import(dist('ssh/remote.js'));
const { safeCmd } = await import(dist('ssh/command.js'));
const { foldHosts } = await import(dist('ssh/hostset.js'));
const { labProcesses } = await import(dist('lab/down.js'));
const { LabLayout } = await import(dist('lab/layout.js'));

const KEX = 'ecdh-sha2-nistp256';
const SIZES = (process.env.GALLEY_BENCH_SSH_SIZES ?? '50,250,1000').split(',').map(Number);
// Rounds per size (the big sizes cost minutes a round on two shared cores).
const ROUNDS = (process.env.GALLEY_BENCH_SSH_ROUNDS ?? '3,2,1').split(',').map(Number);
const FULL_FANOUT_MAX = Number(process.env.GALLEY_BENCH_SSH_FULL_FANOUT_MAX ?? 250);
const base = process.env.GALLEY_BENCH_SSH_BASE ?? '127.30';
const labDir = process.env.GALLEY_BENCH_SSH_LAB_DIR ?? '/tmp/galley-ssh-bench-lab';
// The lab's bench hosts (a lab of another size is restarted with this many).
const BENCH_HOSTS = Number(process.env.GALLEY_BENCH_SSH_LAB_HOSTS ?? 1000);
const log = (m) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${m}\n`);
const CORES = cpus().length;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

const up = await labUp({ base, dir: labDir, benchHosts: BENCH_HOSTS, fresh: false });
const config = loadConfig(up.configFile);
const work = mkdtempSync(join(tmpdir(), 'galley-ssh-bench-'));
/**
 * While it measures, the bench pauses (SIGSTOP) the servers of its own lab that no tool uses
 * (etcd, nginx, the mirrors, DNS, Prometheus, Alertmanager, ngircd: about a fifth of a core at
 * rest), so that the two cores are the tools' and the bench sshds'. Only a lab this bench
 * started is paused (GALLEY_BENCH_SSH_PAUSE_LAB=0: never); it is continued (SIGCONT) before
 * the lab goes down, and on any exit.
 */
const PAUSE_LAB = process.env.GALLEY_BENCH_SSH_PAUSE_LAB !== '0' && !up.reused;
let paused = [];
function pauseLab() {
  if (!PAUSE_LAB) return;
  paused = labProcesses(new LabLayout(labDir)).filter((p) => !p.owner.includes('benchgroup'));
  for (const p of paused) {
    try {
      process.kill(p.pid, 'SIGSTOP');
    } catch {
      // gone already
    }
  }
  log(`paused ${paused.length} lab processes that no tool uses (SIGSTOP), until the bench ends`);
}
function resumeLab() {
  for (const p of paused) {
    try {
      process.kill(p.pid, 'SIGCONT');
    } catch {
      // gone already
    }
  }
  paused = [];
}
process.on('exit', resumeLab);
const loadAtStart = loadavg();
const cleanup = async () => {
  resumeLab();
  rmSync(work, { recursive: true, force: true });
  if (!up.reused) await labDown({ base, dir: labDir });
};

/** PIDs of the sshd processes serving the bench hosts. */
function benchSshdPids() {
  const hosts = join(labDir, 'hosts');
  return readdirSync(hosts)
    .filter((d) => d.startsWith('benchgroup'))
    .map((d) => Number(readFileSync(join(hosts, d, 'run', 'sshd.pid'), 'utf8').trim()));
}

/** CPU seconds of the bench sshds, their reaped children (one per connection, and the shells) included. */
function sshdCpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime, stime, cutime, cstime are fields 14-17 (1-based); f starts at field 3.
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return ticks / CLK_TCK;
}

function kib(file, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? NaN
    : s.length % 2
      ? s[(s.length - 1) / 2]
      : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Runs a process with a deadline; resolves with its exit code (null when killed) and output. */
function run(bin, args, env, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out.length < 1e6 ? (out += d) : undefined));
    child.stderr.on('data', (d) => (err.length < 1e5 ? (err += d) : undefined));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

try {
  const bench = Object.keys(config.hosts)
    .filter((h) => /^bench\d+\.lab\.wmnet$/.test(h))
    .sort();
  if (bench.length < Math.max(...SIZES))
    throw new Error(`the lab has ${bench.length} bench hosts, ${Math.max(...SIZES)} needed`);
  const sshdPids = benchSshdPids();

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
      '  ConnectTimeout 60',
      '  LogLevel ERROR',
      '',
    ].join('\n'),
  );
  const cuminConfig = (fanout) => {
    const f = join(work, `cumin-${fanout}.yaml`);
    writeFileSync(
      f,
      [
        'default_backend: direct',
        'transport: clustershell',
        `log_file: ${join(work, 'cumin.log')}`,
        'clustershell:',
        `  ssh_options: ['-F ${sshConfig}']`,
        `  fanout: ${fanout}`,
        '',
      ].join('\n'),
    );
    return f;
  };
  const hostsFile = (n) => {
    const f = join(work, `hosts-${n}`);
    writeFileSync(f, `${bench.slice(0, n).join('\n')}\n`);
    return f;
  };
  const set = (n) => foldHosts(bench.slice(0, n));
  const galleyConfig = join(work, 'galley.yaml');
  writeFileSync(galleyConfig, readFileSync(up.configFile, 'utf8'));

  // Each tool: how to run `true` on n hosts as one process, at its usual fan-out (f undefined)
  // or at fan-out f. `ok` checks that every host answered.
  const peers = [
    {
      name: 'pdsh',
      bin: 'pdsh',
      usual: 32,
      env: { PDSH_RCMD_TYPE: 'ssh', PDSH_SSH_ARGS: `-F ${sshConfig} -2 -a -x -l%u %h` },
      args: (n, f) => ['-f', String(f), '-w', set(n), 'true'],
    },
    {
      name: 'pssh (parallel-ssh)',
      bin: 'parallel-ssh',
      usual: 32,
      args: (n, f) => ['-h', hostsFile(n), '-p', String(f), '-t', '120', '-x', `-F ${sshConfig}`, 'true'],
    },
    {
      name: 'clustershell (clush)',
      bin: 'clush',
      usual: 64,
      args: (n, f) => ['-f', String(f), '-o', `-F ${sshConfig}`, '-w', set(n), 'true'],
    },
    {
      name: 'cumin',
      bin: 'cumin',
      usual: 64,
      args: (n, f) => ['-c', cuminConfig(f), '--force', `D{${set(n)}}`, 'true'],
    },
  ];
  const missing = peers.filter((t) => spawnSync('sh', ['-c', `command -v ${t.bin}`]).status !== 0);
  for (const t of missing)
    log(`${t.name}: ${t.bin} not installed, skipped (apt-get install -y cumin clustershell pssh pdsh)`);
  const present = peers.filter((t) => !missing.includes(t));

  /**
   * The variants measured at size n, most telling first (when the time budget runs out, the
   * rest of a round is skipped and said so): Galley's default, the peers at their usual fan-out
   * (pdsh, the fastest peer here, first), Galley in-process, then the peers at fan-out = n.
   */
  const variants = (n) => [
    {
      name: 'cookbook exec --read-only (Galley, default adaptive window)',
      galley: true,
      bin: process.execPath,
      // `true` marked read-only, as an operator would: no journal, audit or announcement, like the
      // peers. Unmarked, exec journals to etcd and announces on IRC, and the bench has paused both
      // (SIGSTOP, above): each run then spends its bounded waits (shared journal 3 s, IRC) on
      // servers that never answer, about 11 s at every size (measured 2026-12-02).
      args: () => [
        join(root, 'bin/run.js'),
        'exec',
        '-c',
        galleyConfig,
        set(n),
        '--read-only',
        '--json',
        '--',
        'true',
      ],
    },
    ...present
      .slice(0, 1)
      .map((t) => ({ ...t, name: `${t.name} -f ${t.usual} (usual)`, peer: t.name, fanout: t.usual })),
    { name: 'in-process', inProcess: true },
    ...present
      .slice(1)
      .map((t) => ({ ...t, name: `${t.name} -f ${t.usual} (usual)`, peer: t.name, fanout: t.usual })),
    ...present
      .filter((t) => n <= FULL_FANOUT_MAX && n > t.usual)
      .map((t) => ({ ...t, name: `${t.name} -f ${n}`, peer: t.name, fanout: n, full: true })),
  ];
  // The time budget, shared among the sizes in proportion to their hosts (and among rounds).
  const BUDGET_MS = Number(process.env.GALLEY_BENCH_SSH_BUDGET_S ?? 2400) * 1000;
  const totalHostRounds = SIZES.reduce((a, n, i) => a + n * (ROUNDS[i] ?? ROUNDS[ROUNDS.length - 1]), 0);
  const sizeBudgetMs = (n) => (BUDGET_MS * n) / totalHostRounds;
  const skipped = [];

  /** Per size and variant: seconds of successful runs, sshd CPU per connection, failures. */
  const results = new Map();
  const rec = (n, v) => {
    const k = `${n}\u0000${v.name}`;
    if (!results.has(k)) results.set(k, { n, v, seconds: [], sshdPerConn: [], failures: [] });
    return results.get(k);
  };
  const inProcess = new Map(SIZES.map((n) => [n, { cold: [], warm: [] }]));

  pauseLab();
  const maxRounds = Math.max(...ROUNDS);
  for (let round = 0; round < maxRounds; round++) {
    for (const [i, n] of SIZES.entries()) {
      if (round >= (ROUNDS[i] ?? ROUNDS[ROUNDS.length - 1])) continue;
      const sizeStarted = performance.now();
      for (const v of variants(n)) {
        if (performance.now() - sizeStarted > sizeBudgetMs(n)) {
          skipped.push(`${v.inProcess ? 'Galley in-process' : v.name} at ${n} hosts (round ${round + 1})`);
          continue;
        }
        if (v.inProcess) {
          // A fresh pool (cold connections), then a second round on the open connections.
          const remote = openRemote(config, { dryRun: false });
          const hosts = remote.hosts(set(n));
          for (const phase of ['cold', 'warm']) {
            const t0 = performance.now();
            const report = await remote.executor.execute(hosts, safeCmd`true`);
            const seconds = (performance.now() - t0) / 1000;
            if (report.thresholdMet) inProcess.get(n)[phase].push(seconds);
            else log(`in-process ${phase} on ${n} hosts: ${report.successes}/${n} succeeded`);
            log(
              `round ${round + 1}, ${n} hosts, in-process ${phase}: ${seconds.toFixed(2)} s (window peak ${remote.pool.window.peak})`,
            );
          }
          await remote.close();
          continue;
        }
        const r = rec(n, v);
        const cpu0 = sshdCpuSeconds(sshdPids);
        const t0 = performance.now();
        // Bounded: a run that takes longer than 2 s per host (at least 120 s) is stopped and counted as failed.
        const res = await run(v.bin, v.args(n, v.fanout), v.env ?? {}, Math.max(120_000, n * 2000));
        const seconds = (performance.now() - t0) / 1000;
        await new Promise((ok) => setTimeout(ok, 300)); // let sshd reap the last sessions
        const perConn = (sshdCpuSeconds(sshdPids) - cpu0) / n;
        let okHosts = res.code === 0 ? n : 0;
        if (v.galley && res.code !== null) {
          try {
            okHosts = JSON.parse(res.out).successes;
          } catch {
            okHosts = 0;
          }
        }
        if (res.code === 0 && okHosts === n) {
          r.seconds.push(seconds);
          r.sshdPerConn.push(perConn);
        } else {
          const why = res.code === null ? 'stopped at its time limit' : `exit ${res.code}`;
          r.failures.push(`${why} after ${seconds.toFixed(1)} s`);
          log(
            `${v.name} failed on ${n} hosts (${why}): ${(res.err || res.out).slice(0, 300).replace(/\n/g, ' | ')}`,
          );
        }
        log(
          `round ${round + 1}, ${n} hosts, ${v.name}: ${seconds.toFixed(2)} s, sshd ${(perConn * 1000).toFixed(1)} ms/conn`,
        );
      }
    }
  }

  const loadAtEnd = loadavg();
  resumeLab();
  // Memory of the bench sshds (the lab's share for its bench hosts), and the lab's start-up.
  let rss = 0;
  let pss = 0;
  for (const pid of sshdPids) {
    rss += kib(`/proc/${pid}/status`, 'VmRSS');
    pss += kib(`/proc/${pid}/smaps_rollup`, 'Pss');
  }
  const state = JSON.parse(readFileSync(join(labDir, 'state.json'), 'utf8'));

  const fmt = (xs) => (xs.length ? `${median(xs).toFixed(2)} s` : '—');
  const lines = [
    '## SSH fan-out: `cookbook exec` against pssh, pdsh, clush and cumin at 50, 250 and 1,000 hosts',
    '',
    '| hosts | tool (fan-out) | median | runs ok | sshd CPU / connection | time / fastest peer |',
    '|---|---|---|---|---|---|',
  ];
  const summary = [];
  for (const [i, n] of SIZES.entries()) {
    const rows = [...results.values()].filter((r) => r.n === n);
    const peerRows = rows.filter((r) => r.v.peer && r.seconds.length);
    const fastestPeer = peerRows.sort((a, b) => median(a.seconds) - median(b.seconds))[0];
    const all = rows.filter((r) => r.v.galley).concat(rows.filter((r) => !r.v.galley));
    for (const r of all) {
      const ratio =
        fastestPeer && r.seconds.length
          ? `${(median(r.seconds) / median(fastestPeer.seconds)).toFixed(2)}×`
          : '';
      const runs = `${r.seconds.length}/${ROUNDS[i] ?? ROUNDS[ROUNDS.length - 1]}${r.failures.length ? ` (failed: ${r.failures.join('; ')})` : ''}`;
      lines.push(
        `| ${n} | ${r.v.name} | ${fmt(r.seconds)} | ${runs} | ${r.sshdPerConn.length ? `${(median(r.sshdPerConn) * 1000).toFixed(1)} ms` : ''} | ${ratio} |`,
      );
    }
    const ip = inProcess.get(n);
    // (sshd's CPU is not read in-process: its per-connection processes live until the pool closes.)
    lines.push(
      `| ${n} | Galley in-process, cold (new connections) | ${fmt(ip.cold)} | ${ip.cold.length} | | |`,
    );
    lines.push(
      `| ${n} | Galley in-process, warm (second round, open connections) | ${fmt(ip.warm)} | ${ip.warm.length} | | |`,
    );
    const galley = rows.find((r) => r.v.galley);
    const perConn = median(rows.flatMap((r) => r.sshdPerConn));
    const floor = (perConn * n) / CORES;
    // Each run against the floor of its own seconds: the machine's speed drifts by a third within
    // minutes here, and a run's wall time and its sshds' CPU are read over the same interval.
    const ownFloorRatios = (galley?.seconds ?? []).map(
      (sec, i) => sec / ((galley.sshdPerConn[i] * n) / CORES),
    );
    summary.push(
      `| ${n} | ${galley?.seconds.length ? fmt(galley.seconds) : 'failed'} | ${fastestPeer ? `${fastestPeer.v.name}, ${fmt(fastestPeer.seconds)}` : '—'} | ` +
        `${galley?.seconds.length && fastestPeer ? `${(median(galley.seconds) / median(fastestPeer.seconds)).toFixed(2)}×` : ''} | ` +
        `${(perConn * 1000).toFixed(1)} ms × ${n} ÷ ${CORES} = ${floor.toFixed(2)} s | ${galley?.seconds.length ? `${(median(galley.seconds) / floor).toFixed(2)}×` : ''} | ` +
        `${ownFloorRatios.length ? `${median(ownFloorRatios).toFixed(2)}× (${ownFloorRatios.map((x) => x.toFixed(2)).join(', ')})` : ''} |`,
    );
  }
  lines.push(
    '',
    '| hosts | cookbook exec | fastest peer | cookbook exec / fastest peer | floor: sshd CPU per connection × hosts ÷ cores | cookbook exec / floor | each exec run / its own floor: median (runs) |',
    '|---|---|---|---|---|---|---|',
    ...summary,
    '',
    `Lab: \`lab up --bench-hosts ${state.benchHosts}\` took ${state.upSeconds ?? '?'} s (from its state.json; ${sshdPids.length} sshd processes, 16 addresses each, ` +
      `${Math.ceil(state.benchHosts / 250)} /24s); those sshds hold ${(rss / 1024).toFixed(0)} MiB RSS, ${(pss / 1024).toFixed(0)} MiB PSS at rest.`,
    '',
    `Method: \`true\` on the first N bench hosts of one lab (loopback, sshd in host namespaces, the same ${CORES} shared cores for clients and servers), ` +
      `rounds ${SIZES.map((n, i) => `${ROUNDS[i] ?? ROUNDS[ROUNDS.length - 1]} at ${n}`).join(', ')}, every tool interleaved in each round; medians of the successful runs. ` +
      `Every tool is one cold process from start to exit, with the same SSH setup: key exchange ${KEX}, the lab's ed25519 key and known_hosts with strict checking, user root, no connection sharing. ` +
      `Usual fan-outs are each tool's default (pssh -p 32, pdsh -f 32, clush and cumin 64); fan-out = host count is tried up to ${FULL_FANOUT_MAX} hosts. ` +
      `A run is bounded (2 s per host, at least 120 s) and fails unless every host succeeded; the section has a time budget of ${BUDGET_MS / 1000} s, shared among the sizes in proportion to their hosts (a variant is not started once its size's share is spent). ` +
      `sshd CPU per connection is read from /proc/PID/stat (utime+stime+cutime+cstime) of the bench sshds around each run, divided by the hosts; the floor uses its median over all runs at that size; the last column divides each exec run by the floor from its own sshds' CPU (the machine's speed drifts between runs). ` +
      `${PAUSE_LAB ? "The lab's other servers (etcd, nginx, the mirrors, DNS, monitoring) were paused while the tools ran. " : ''}` +
      `Load average (1, 5, 15 min) ${loadAtStart.map((x) => x.toFixed(1)).join(', ')} when the bench started, ${loadAtEnd.map((x) => x.toFixed(1)).join(', ')} when its last run ended (the runs' own load included). ` +
      `Galley in-process opens one pool per round: "cold" is its first command (connect, authenticate, exec), "warm" a second command on the same pooled connections. ` +
      `${missing.length ? `Not installed, skipped: ${missing.map((t) => t.name).join(', ')}. ` : ''}` +
      `${skipped.length ? `Not run, the time budget being spent: ${skipped.join(', ')}.` : ''}`,
    '',
  );
  process.stdout.write(lines.join('\n'));
} finally {
  await cleanup();
}
