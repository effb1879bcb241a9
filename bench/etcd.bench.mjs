#!/usr/bin/env node
// Benchmark of Galley's etcd v2 client (dist/src/etcd) against a real single-member etcd 3.4
// started here on 127.32.210.1 (the etcd engineer's range) and removed at the end.
// Prints one Markdown section on stdout. Bounded: a few thousand writes per row.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const { EtcdClient } = await import(new URL('../dist/src/etcd/client.js', import.meta.url).href);

const ADDR = process.env.GALLEY_BENCH_ETCD_ADDR ?? '127.32.210.1';
const url = `http://${ADDR}:2379`;
const dir = mkdtempSync(join(tmpdir(), 'galley-etcd-bench-'));
const etcd = spawn(
  'etcd',
  [
    '--name',
    'bench',
    '--data-dir',
    join(dir, 'data'),
    '--enable-v2=true',
    '--listen-client-urls',
    url,
    '--advertise-client-urls',
    url,
    '--listen-peer-urls',
    `http://${ADDR}:2380`,
    '--initial-advertise-peer-urls',
    `http://${ADDR}:2380`,
    '--initial-cluster',
    `bench=http://${ADDR}:2380`,
  ],
  { stdio: 'ignore' },
);
const stop = () => {
  etcd.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', stop);

const client = new EtcdClient({ endpoints: [{ url }], timeoutMs: 10_000 });
for (let i = 0; ; i++) {
  try {
    if ((await client.health()).healthy) break;
  } catch {
    /* starting */
  }
  if (i > 200) throw new Error('etcd did not become healthy');
  await new Promise((r) => setTimeout(r, 100));
}

async function writes(n, inFlight, key = (i) => `/bench/k${i % 100}`) {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) {
        const i = next++;
        await client.set(key(i), String(i));
      }
    }),
  );
  return (performance.now() - t0) / 1000;
}

// Baseline: bare node:http PUTs with the same keep-alive agent settings, no parsing beyond the status.
import http from 'node:http';
const rawAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function rawPut(path, value) {
  return new Promise((resolve, reject) => {
    const body = `value=${encodeURIComponent(value)}`;
    const r = http.request(
      `${url}/v2/keys${path}`,
      {
        method: 'PUT',
        agent: rawAgent,
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          'Content-Length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode < 300 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
      },
    );
    r.on('error', reject);
    r.end(body);
  });
}
async function rawWrites(n, inFlight) {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) {
        const i = next++;
        await rawPut(`/bench/k${i % 100}`, String(i));
      }
    }),
  );
  return (performance.now() - t0) / 1000;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [];
await writes(300, 4); // warm-up

for (const [label, n, k] of [
  ['set, 1 in flight', 1500, 1],
  ['set, 4 in flight', 3000, 4],
  ['set, 16 in flight', 5000, 16],
]) {
  // Interleaved, so that both see the same background load on the shared machine.
  const runs = [];
  const raw = [];
  for (let r = 0; r < 3; r++) {
    runs.push(n / (await writes(n, k)));
    raw.push(n / (await rawWrites(n, k)));
  }
  rows.push([
    label,
    `${Math.round(median(runs))} writes/s`,
    `bare node:http in the same run: ${Math.round(median(raw))}/s (client at ${(median(runs) / median(raw)).toFixed(2)}×)`,
  ]);
}

{
  // compare-and-swap costs the same as a plain set?
  await client.set('/bench/cas', '0');
  const n = 1500;
  const runs = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const cur = String(r * n + i);
      await client.compareAndSwap('/bench/cas', String(r * n + i + 1), { prevValue: cur });
    }
    runs.push(n / ((performance.now() - t0) / 1000));
  }
  rows.push([
    'compare-and-swap, 1 in flight',
    `${Math.round(median(runs))} writes/s`,
    `${n} CAS × 3 runs, median`,
  ]);
}

{
  // stream watch: events delivered while a 16-in-flight writer runs
  const n = 5000;
  const start = (await client.get('/')).etcdIndex + 1;
  let got = 0;
  const cpu0 = process.cpuUsage();
  const watching = (async () => {
    for await (const ev of client.watchStream('/bench-w', { recursive: true, waitIndex: start })) {
      if (++got === n) break;
      void ev;
    }
  })();
  const secs = await writes(n, 16, (i) => `/bench-w/k${i % 100}`);
  const t0 = performance.now();
  await watching;
  const tail = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  rows.push([
    'stream watch, writer 16 in flight',
    `${Math.round(n / (secs + tail))} events/s`,
    `${n} events all delivered; last one ${Math.round(tail * 1000)} ms after the last write; client CPU ${((cpu.user + cpu.system) / 1000 / n).toFixed(2)} ms/event (writer included)`,
  ]);
}

{
  // long-poll catch-up from history (what a restart does)
  const from = (await client.get('/')).etcdIndex + 1;
  await writes(900, 16, (i) => `/bench-h/k${i % 50}`);
  let idx = from;
  let count = 0;
  const t0 = performance.now();
  while (count < 900) {
    const ev = await client.watch('/bench-h', { recursive: true, waitIndex: idx });
    idx = ev.node.modifiedIndex + 1;
    count++;
  }
  const s = (performance.now() - t0) / 1000;
  rows.push([
    'long-poll catch-up (one request per event)',
    `${Math.round(count / s)} events/s`,
    '900 events inside the 1,000-event window',
  ]);
}

client.close();
rawAgent.destroy();
stop();
console.log('## etcd v2 client (src/etcd)\n');
console.log('| operation | throughput | notes |');
console.log('|---|---|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
console.log(
  '\nMethod: one keep-alive EtcdClient (node:http agent) against one real etcd 3.4 member (v2 API, default fsync) started by the bench on loopback, on the same 2 shared cores as the client; writes cycle over 100 keys; medians of 3 runs, client and bare node:http interleaved. Compare ratios within one run, not absolute figures across runs.',
);
