#!/usr/bin/env node
// etcdmirror benchmark: throughput on a 20,000-put burst, lag at fixed write rates, burst
// recovery, and `etcdctl make-mirror` (v3 keyspace) on the same burst for reference.
// Runs the built daemon (dist/, via bin/etcdmirror.js) between two single-member etcd 3.4
// started here in GALLEY_BENCH_MIRROR_BASE.x (default 127.33.250, .1 source, .2 destination,
// .3 the mirror's endpoint). With GALLEY_BENCH_MIRROR_PEER=DIR (another checkout, built) it also
// runs DIR/bin/etcdmirror.js, alternating with this one over GALLEY_BENCH_MIRROR_ROUNDS rounds
// (default 2), so that two versions are compared in one run on the same servers.
// Prints one Markdown section on stdout; progress on stderr.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'dist/src/mirror/main.js'))) {
  console.error('build first: npx tsc -p tsconfig.build.json');
  process.exit(1);
}
const BASE = process.env.GALLEY_BENCH_MIRROR_BASE ?? '127.33.250';
const PEER = process.env.GALLEY_BENCH_MIRROR_PEER;
const ROUNDS = Number(process.env.GALLEY_BENCH_MIRROR_ROUNDS ?? (PEER ? 2 : 1));
if (PEER && !existsSync(join(PEER, 'dist/src/mirror/main.js'))) {
  console.error(`GALLEY_BENCH_MIRROR_PEER=${PEER}: build it first (npx tsc -p tsconfig.build.json there)`);
  process.exit(1);
}
const SRC_IP = `${BASE}.1`;
const DST_IP = `${BASE}.2`;
const SRC = `http://${SRC_IP}:2379`;
const DST = `http://${DST_IP}:2379`;
const dir = mkdtempSync(join(tmpdir(), 'galley-mirror-bench-'));
const children = [];
const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
const log = (m) => process.stderr.write(`mirror bench: ${m}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function request(base, method, path, body, json) {
  const u = new URL(base);
  const headers = {};
  if (body !== undefined) {
    headers['content-type'] = json ? 'application/json' : 'application/x-www-form-urlencoded';
    headers['content-length'] = Buffer.byteLength(body);
  }
  return new Promise((resolve, reject) => {
    const r = http.request({ hostname: u.hostname, port: u.port, method, path, agent, headers }, (res) => {
      let d = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (d += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: d }));
    });
    r.on('error', reject);
    r.end(body);
  });
}
const put = async (base, key, value) =>
  JSON.parse((await request(base, 'PUT', `/v2/keys${key}`, `value=${encodeURIComponent(value)}`)).body).node
    .modifiedIndex;
const b64 = (s) => Buffer.from(s).toString('base64');
const put3 = (base, key, value) =>
  request(base, 'POST', '/v3/kv/put', JSON.stringify({ key: b64(key), value: b64(value) }), true);
async function get3(base, key) {
  const r = JSON.parse(
    (await request(base, 'POST', '/v3/kv/range', JSON.stringify({ key: b64(key) }), true)).body,
  );
  return r.kvs?.[0] ? Buffer.from(r.kvs[0].value, 'base64').toString() : undefined;
}
async function recorded() {
  const r = await request(DST, 'GET', '/v2/keys/__replication/__ROOT__');
  return r.status === 200 ? Number(JSON.parse(r.body).node.value) : 0;
}

function startEtcd(ip) {
  const name = `b${ip.replace(/\./g, '-')}`;
  const p = spawn(
    'etcd',
    [
      '--enable-v2=true',
      '--name',
      name,
      '--data-dir',
      join(dir, name),
      '--listen-client-urls',
      `http://${ip}:2379`,
      '--advertise-client-urls',
      `http://${ip}:2379`,
      '--listen-peer-urls',
      `http://${ip}:2380`,
      '--initial-advertise-peer-urls',
      `http://${ip}:2380`,
      '--initial-cluster',
      `${name}=http://${ip}:2380`,
      '--log-level',
      'error',
    ],
    { stdio: 'ignore' },
  );
  children.push(p);
}
async function waitUp(base) {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await request(base, 'GET', '/version')).status === 200) return;
    } catch {}
    await sleep(50);
  }
  throw new Error(`${base} did not start`);
}

/** Writes n puts with k in flight; returns [startMs, endMs, lastIndex]. */
async function burst(n, k, prefix, writer = put) {
  let next = 0;
  let last = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: k }, async () => {
      while (next < n) {
        const i = next++;
        const idx = await writer(SRC, `${prefix}/k${i % 2000}`, `v${i}`);
        if (typeof idx === 'number' && idx > last) last = idx;
      }
    }),
  );
  return [t0, performance.now(), last];
}

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Lag at a fixed rate: each write's time from the source's answer to its arrival at the destination. */
async function lagAt(rate, seconds) {
  const prefix = `/lag${rate}`;
  const acked = new Map();
  const lags = [];
  // the destination's own watch stream tells when each write arrived
  const u = new URL(DST);
  const arrivals = new Map();
  const watch = http.request({
    hostname: u.hostname,
    port: u.port,
    path: `/v2/keys${prefix}?wait=true&recursive=true&stream=true`,
  });
  let partial = '';
  watch.on('response', (res) => {
    res.setEncoding('utf8');
    res.on('data', (c) => {
      const now = performance.now();
      partial += c;
      let nl;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl).trim();
        partial = partial.slice(nl + 1);
        if (!line) continue;
        const ev = JSON.parse(line);
        const id = ev.node.value;
        if (acked.has(id)) lags.push(now - acked.get(id));
        else arrivals.set(id, now);
      }
    });
  });
  watch.on('error', () => {});
  watch.end();
  await sleep(200);
  const total = rate * seconds;
  const t0 = performance.now();
  const inflight = new Set();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const id = `w${i}`;
    const p = put(SRC, `${prefix}/k${i % 500}`, id).then(() => {
      const now = performance.now();
      if (arrivals.has(id)) lags.push(0);
      else acked.set(id, now);
      inflight.delete(p);
    });
    inflight.add(p);
    if (inflight.size >= 64) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const end = performance.now() + 10_000;
  while (lags.length < total && performance.now() < end) await sleep(20);
  watch.destroy();
  lags.sort((a, b) => a - b);
  return {
    rate,
    achieved: Math.round(total / ((performance.now() - t0) / 1000)),
    n: lags.length,
    total,
    p50: pct(lags, 50),
    p99: pct(lags, 99),
    max: lags[lags.length - 1],
  };
}

const rows = [];
let maxBehind = 0;
let run = 0;

/** One build of etcdmirror (its checkout's bin/etcdmirror.js): the burst, then the lag at fixed rates. */
async function benchMirror(label, checkout) {
  run++;
  const mirror = spawn(
    process.execPath,
    [
      join(checkout, 'bin/etcdmirror.js'),
      '--reload',
      '--concurrency',
      '32',
      '--listen',
      `${BASE}.3:8000`,
      SRC,
      DST,
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, GALLEY_MIRROR_FROM_SOURCE: '' },
    },
  );
  children.push(mirror);
  let mirrorLog = '';
  mirror.stderr.on('data', (c) => (mirrorLog += c));
  for (let i = 0; i < 400 && !mirrorLog.includes('Starting replication'); i++) await sleep(50);
  if (!mirrorLog.includes('Starting replication'))
    throw new Error(`${label}: the mirror did not start: ${mirrorLog}`);

  // 1. throughput and recovery on a 20,000-put burst
  log(`${label}: 20,000-put burst`);
  const [t0, t1, last] = await burst(20_000, 32, `/burst${run}`);
  const backlog = last - (await recorded());
  while ((await recorded()) < last) {
    maxBehind = Math.max(maxBehind, last - (await recorded()));
    await sleep(10);
    if (performance.now() - t1 > 60_000) throw new Error('the mirror did not catch up within 60 s');
  }
  const t2 = performance.now();
  const secs = (t2 - t0) / 1000;
  rows.push([
    `${label}, 20,000-put burst, K=32`,
    `${Math.round(20_000 / ((t1 - t0) / 1000))}/s`,
    `${Math.round(20_000 / secs)} events/s`,
    `${((t2 - t1) / 1000).toFixed(2)} s behind at the end of the burst; drained its ${backlog}-event backlog at ${Math.round(backlog / ((t2 - t1) / 1000))}/s`,
  ]);
  if (mirror.exitCode !== null) throw new Error(`the mirror exited (${mirror.exitCode}): ${mirrorLog}`);

  // 2. lag at fixed rates
  for (const rate of [250, 500, 1000, 2000]) {
    log(`${label}: lag at ${rate}/s`);
    const r = await lagAt(rate, 5);
    rows.push([
      `${label} lag at ${rate} writes/s (5 s)`,
      `${r.achieved}/s`,
      `p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(0)} ms`,
      `${r.n}/${r.total} writes seen`,
    ]);
  }
  mirror.kill('SIGTERM');
  await new Promise((r) => mirror.once('exit', r));
}

try {
  startEtcd(SRC_IP);
  startEtcd(DST_IP);
  await waitUp(SRC);
  await waitUp(DST);
  for (let round = 1; round <= ROUNDS; round++) {
    const suffix = ROUNDS > 1 ? ` (round ${round})` : '';
    await benchMirror(`etcdmirror (v2)${PEER ? ' this build' : ''}${suffix}`, root);
    if (PEER) await benchMirror(`etcdmirror (v2) peer build${suffix}`, PEER);
  }

  // 3. etcdctl make-mirror on the v3 keyspace, same burst
  log('etcdctl make-mirror, 20,000-put burst');
  const mm = spawn('etcdctl', ['--endpoints', SRC, 'make-mirror', '--prefix', '/v3burst', DST], {
    stdio: 'ignore',
    env: { ...process.env, ETCDCTL_API: '3' },
  });
  children.push(mm);
  await put3(SRC, '/v3burst/warmup', 'x');
  for (let i = 0; i < 200 && (await get3(DST, '/v3burst/warmup')) !== 'x'; i++) await sleep(50);
  const [m0, m1] = await burst(20_000, 32, '/v3burst', put3);
  await put3(SRC, '/v3burst/done', 'yes');
  while ((await get3(DST, '/v3burst/done')) !== 'yes') {
    await sleep(50);
    if (performance.now() - m1 > 90_000) throw new Error('make-mirror did not catch up within 90 s');
  }
  const m2 = performance.now();
  rows.push([
    'etcdctl make-mirror (v3), 20,000-put burst',
    `${Math.round(20_000 / ((m1 - m0) / 1000))}/s`,
    `${Math.round(20_000 / ((m2 - m0) / 1000))} keys/s`,
    `${((m2 - m1) / 1000).toFixed(2)} s behind at the end of the burst`,
  ]);
  mm.kill('SIGTERM');

  console.log('## etcdmirror: replication throughput and lag\n');
  console.log('| run | source writes | replicated | notes |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  if (PEER) {
    const commit = (dir) =>
      spawnSync('git', ['-C', dir, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).stdout.trim() || dir;
    console.log(
      `\n"this build" is ${commit(root)}; "peer build" is ${commit(PEER)}; they ran alternately on the same pair of servers, ${ROUNDS} rounds each.`,
    );
  }
  console.log(
    `\nTwo single-member etcd 3.4 (v2 API) on loopback, the built etcdmirror (streamed watch, 32 conditional writes in flight, watermark index) between them, ` +
      'the load generator in the same 2-core machine: throughput is 20,000 PUTs (32 in flight, 2,000 keys) divided by the time until the destination index key records the last one; ' +
      `lag is each write's time from the source's answer to its arrival on a watch of the destination, at a paced rate for 5 s; during the burst the mirror was up to ${maxBehind} events behind (held in memory from the stream, so the 1000-event history was never needed). ` +
      '`etcdctl make-mirror` ran on the v3 keyspace of the same pair with the same burst, through the v3 JSON gateway, for reference.',
  );
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await sleep(500);
  agent.destroy();
  rmSync(dir, { recursive: true, force: true });
}
