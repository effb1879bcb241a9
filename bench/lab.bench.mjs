#!/usr/bin/env node
// Benchmark of the lab: wall time of `lab up` (fresh and already up) and `lab down`, and the
// memory of the lab's processes (sum of RSS, and of PSS, which counts shared pages once).
// Runs the built code (dist/); as root. Range and directory: GALLEY_BENCH_LAB_BASE (default
// 127.24, next to the test lab's 127.21) and GALLEY_BENCH_LAB_DIR (default /tmp/galley-bench-lab).
import { readFileSync } from 'node:fs';
import { labDown, labUp } from '../dist/src/lab/index.js';
import { labProcesses } from '../dist/src/lab/down.js';
import { LabLayout } from '../dist/src/lab/layout.js';

const base = process.env.GALLEY_BENCH_LAB_BASE ?? '127.24';
const dir = process.env.GALLEY_BENCH_LAB_DIR ?? '/tmp/galley-bench-lab';
const rounds = Number(process.env.GALLEY_BENCH_LAB_ROUNDS ?? 3);

function kib(file, field) {
  try {
    const line = readFileSync(file, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${field}:`));
    return line ? Number(line.split(/\s+/)[1]) : 0;
  } catch {
    return 0;
  }
}

function memory() {
  const procs = labProcesses(new LabLayout(dir));
  let rss = 0;
  let pss = 0;
  const monitoring = {};
  for (const p of procs) {
    const r = kib(`/proc/${p.pid}/status`, 'VmRSS');
    rss += r;
    pss += kib(`/proc/${p.pid}/smaps_rollup`, 'Pss');
    if (['prometheus', 'alertmanager', 'ngircd'].includes(p.owner)) monitoring[p.owner] = r / 1024;
  }
  return { processes: procs.length, rssMiB: rss / 1024, pssMiB: pss / 1024, monitoring };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = async (f) => {
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) / 1000;
};

/** Seconds from the end of `lab up` until Prometheus says it is ready and has scraped every target once. */
async function prometheusReady() {
  const cfg = (await import('../dist/src/lab/topology.js')).labTopology(base, 50).monitoring.prometheus;
  const url = `http://${cfg.address}:${cfg.port}`;
  const t0 = performance.now();
  for (;;) {
    try {
      const ready = (await fetch(`${url}/-/ready`)).ok;
      const targets = ready ? await (await fetch(`${url}/api/v1/targets`)).json() : undefined;
      if (
        targets?.data?.activeTargets?.length &&
        targets.data.activeTargets.every((t) => t.lastScrape && !t.lastScrape.startsWith('0001'))
      )
        break;
    } catch {
      // not listening yet
    }
    if (performance.now() - t0 > 30_000) return NaN;
    await new Promise((r) => setTimeout(r, 50));
  }
  return (performance.now() - t0) / 1000;
}

const up = [];
const promReady = [];
const reuse = [];
const down = [];
let mem;
for (let i = 0; i < rounds; i++) {
  up.push(await time(() => labUp({ dir, base, fresh: true })));
  promReady.push(await prometheusReady());
  reuse.push(await time(() => labUp({ dir, base })));
  await new Promise((r) => setTimeout(r, 500));
  mem = memory();
  down.push(await time(() => labDown({ dir, base })));
}

const f = (s) => `${s.toFixed(2)} s`;
console.log(`## Lab (\`cookbook lab up\` / \`lab down\`)

| measure | median | min | max | goal |
|---|---|---|---|---|
| \`lab up\`, fresh (6 etcd hosts, 2 gdnsd hosts, knot, Prometheus, Alertmanager, ngircd, ${'50'} bench hosts) | ${f(median(up))} | ${f(Math.min(...up))} | ${f(Math.max(...up))} | < 10 s |
| \`lab up\`, already up (kept) | ${f(median(reuse))} | ${f(Math.min(...reuse))} | ${f(Math.max(...reuse))} | |
| \`lab down\` | ${f(median(down))} | ${f(Math.min(...down))} | ${f(Math.max(...down))} | < 2 s |
| memory, sum of RSS of ${mem.processes} processes | ${mem.rssMiB.toFixed(0)} MiB | | | < 400 MiB |
| memory, sum of PSS (shared pages counted once) | ${mem.pssMiB.toFixed(0)} MiB | | | |
| Prometheus ready with every target scraped, after \`lab up\` returned | ${f(median(promReady))} | ${f(Math.min(...promReady))} | ${f(Math.max(...promReady))} | < 3 s |
| memory (RSS) of Prometheus / Alertmanager / ngircd | ${['prometheus', 'alertmanager', 'ngircd'].map((c) => `${(mem.monitoring[c] ?? 0).toFixed(0)}`).join(' / ')} MiB | | | < 150 MiB together |

Method: ${rounds} rounds of a fresh \`lab up\`, a second \`lab up\` on the running lab, then \`lab down\`, called in-process
through the built library (dist/) on ${base}.x; memory read from /proc (VmRSS, smaps_rollup Pss) of every process in the
lab hosts' namespaces plus knot, Prometheus, Alertmanager and ngircd, 0.5 s after the lab was up. \`lab up\` waits for
Prometheus' listener only; "ready" is polled afterwards (\`/-/ready\` and a first scrape of every target).
`);
