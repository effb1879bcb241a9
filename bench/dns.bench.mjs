#!/usr/bin/env node
// Benchmark of Galley's DNS transport (dist/src/dns) against real servers started here:
// two gdnsd and one knot on 127.31.0.11-13 (the DNS engineer's range), removed at the end.
// Side by side with the tools SREs use by hand: dig (queries) and knsupdate (TSIG updates).
// Prints one Markdown section on stdout. Bounded: a few hundred queries, a few dozen updates.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const dist = (p) => import(new URL(`../dist/src/dns/${p}`, import.meta.url).href);
const { query, queryAll } = await dist('query.js');
const { sendUpdate } = await dist('update.js');
const { ZonefileBackend } = await dist('zonefile-backend.js');
const { observeOnServers } = await dist('records.js');

const BASE = process.env.GALLEY_BENCH_DNS_BASE ?? '127.31.0';
const SECRET = 'q3Hn0o5t3xkzV6i8m1b2c4d6e8f0a1b3c5d7e9f1a3b=';
const dir = mkdtempSync(join(tmpdir(), 'galley-dns-bench-'));
const zone = (serial) =>
  `$TTL 3600\n@ 3600 SOA ns1.bench.test. hostmaster.bench.test. ( ${serial} 43200 7200 1209600 300 )\n@ NS ns1.bench.test.\nns1 A ${BASE}.11\n_etcd._tcp 300 SRV 0 1 4001 conf1001.bench.test.\n_etcd._tcp 300 SRV 0 1 4001 conf1002.bench.test.\n`;
const children = [];
const servers = [];
for (const i of [11, 12]) {
  const d = join(dir, `g${i}`);
  for (const s of ['zones', 'run', 'state']) mkdirSync(join(d, s), { recursive: true });
  writeFileSync(
    join(d, 'config'),
    `options => {\n listen => [ ${BASE}.${i}:53 ]\n run_dir => ${d}/run\n state_dir => ${d}/state\n}\n`,
  );
  writeFileSync(join(d, 'zones', 'bench.test'), zone(1));
  children.push(spawn('gdnsd', ['-c', d, 'start'], { stdio: 'ignore' }));
  servers.push({ name: `gdnsd${i}`, address: `${BASE}.${i}`, port: 53 });
}
const k = join(dir, 'knot');
for (const s of ['zones', 'run', 'db']) mkdirSync(join(k, s), { recursive: true });
writeFileSync(join(k, 'zones', 'bench.test.zone'), zone(1));
writeFileSync(
  join(k, 'knot.conf'),
  `server:\n  rundir: "${k}/run"\n  listen: ${BASE}.13@53\ncontrol:\n  listen: "${k}/run/knot.sock"\ndatabase:\n  storage: "${k}/db"\nlog:\n  - target: stderr\n    any: error\nkey:\n  - id: bench\n    algorithm: hmac-sha256\n    secret: ${SECRET}\nacl:\n  - id: up\n    key: bench\n    action: update\ntemplate:\n  - id: default\n    storage: "${k}/zones"\n    file: "%s.zone"\n    zonefile-sync: -1\n    journal-content: changes\nzone:\n  - domain: bench.test\n    acl: up\n`,
);
children.push(spawn('knotd', ['-c', join(k, 'knot.conf')], { stdio: 'ignore' }));
const knot = { name: 'knot', address: `${BASE}.13`, port: 53 };
const stop = () => {
  for (const c of children) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', stop);

const options = { timeoutMs: 1000, retries: 2 };
for (const s of [...servers, knot]) {
  for (let i = 0; ; i++) {
    try {
      await query(s, 'bench.test', 'SOA', { timeoutMs: 200, retries: 0 });
      break;
    } catch (e) {
      if (i > 100) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
async function timeEach(n, fn) {
  const t = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    t.push(performance.now() - t0);
  }
  if (process.env.BENCH_DEBUG) console.error(t.map((x) => x.toFixed(1)).join(' '));
  return median(t);
}
const fmt = (ms) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(1));
const rows = [];

const SRV = '_etcd._tcp.bench.test';
rows.push([
  'SRV query, one server (UDP)',
  'Galley `query`',
  await timeEach(300, () => query(servers[0], SRV, 'SRV', options)),
]);
rows.push([
  'SRV query, one server (UDP)',
  '`dig +norec` (process)',
  await timeEach(50, () => spawnSync('dig', ['+norec', '+short', `@${servers[0].address}`, SRV, 'SRV'])),
]);
rows.push([
  'SRV on both gdnsd, compared',
  'Galley `observeOnServers`',
  await timeEach(300, () => observeOnServers(servers, 'bench.test', SRV, 'SRV', options)),
]);
rows.push([
  'SRV on both gdnsd',
  '`dig` ×2 in parallel (processes)',
  await timeEach(30, () =>
    Promise.all(
      servers.map(
        (s) =>
          new Promise((r) => spawn('dig', ['+norec', '+short', `@${s.address}`, SRV, 'SRV']).on('close', r)),
      ),
    ),
  ),
]);
rows.push([
  'SRV on both gdnsd + one stopped server (nothing listening)',
  'Galley `queryAll` (reports it, does not wait for the timeout)',
  await timeEach(100, () =>
    queryAll([...servers, { name: 'stopped', address: `${BASE}.250`, port: 53 }], SRV, 'SRV', options),
  ),
]);

const key = { name: 'bench', algorithm: 'hmac-sha256', secret: Buffer.from(SECRET, 'base64') };
let n = 0;
const srv = (i) => ({ priority: 0, weight: 1, port: 4001, target: `conf${2000 + i}.bench.test` });
rows.push([
  'TSIG UPDATE of an SRV set (TCP, signed answer verified)',
  'Galley `sendUpdate`',
  await timeEach(40, () => {
    n++;
    return sendUpdate(
      knot,
      key,
      { zone: 'bench.test', name: SRV, type: 'SRV', records: [{ ttl: 60, data: srv(n) }] },
      options,
    );
  }),
]);
rows.push([
  'TSIG UPDATE of an SRV set',
  '`knsupdate -y` (process)',
  await timeEach(20, () => {
    n++;
    return new Promise((r) => {
      const c = spawn('knsupdate', ['-y', `hmac-sha256:bench:${SECRET}`]);
      c.on('close', r);
      c.stdin.end(
        `server ${knot.address} 53\nzone bench.test\nupdate delete ${SRV} SRV\nupdate add ${SRV} 60 SRV 0 1 4001 conf${2000 + n}.bench.test.\nsend\n`,
      );
    });
  }),
]);

// Zone-file backend: edit + serial bump + publish script (checkconf, copy, reload both) + wait until both serve it.
const src = join(dir, 'source');
mkdirSync(src, { recursive: true });
writeFileSync(join(src, 'bench.test'), zone(1));
const publish = join(dir, 'publish');
writeFileSync(
  publish,
  `#!/bin/bash\nset -euo pipefail\ns=$(mktemp -d); trap 'rm -rf "$s"' EXIT\nmkdir -p $s/zones $s/run $s/state\nprintf 'options => { run_dir => %s/run\\n state_dir => %s/state }\\n' $s $s > $s/config\ncp ${src}/bench.test $s/zones/\ngdnsd -c $s checkconf >/dev/null 2>&1\nfor g in g11 g12; do cp ${src}/bench.test ${dir}/$g/zones/; gdnsdctl -c ${dir}/$g reload-zones >/dev/null; done\n`,
  { mode: 0o755 },
);
const runner = {
  run: (host, argv, o = {}) =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const c = spawn(argv[0], argv.slice(1), {
        stdio: [o.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.on('close', (code) =>
        resolve({
          host,
          command: argv.join(' '),
          exitCode: code,
          stdout: out,
          stderr: '',
          durationMs: performance.now() - t0,
        }),
      );
      if (c.stdin) c.stdin.end(o.stdin);
    }),
};
const backend = new ZonefileBackend({
  zone: 'bench.test',
  host: 'local',
  file: join(src, 'bench.test'),
  publishCommand: [publish],
  runner,
});
rows.push([
  'zone-file change published and served by both gdnsd',
  'Galley `ZonefileBackend` (local runner) + poll',
  await timeEach(8, async (i) => {
    const records = [{ ttl: 60, data: srv(100 + i) }];
    await backend.replaceRRset(SRV, 'SRV', records);
    for (;;) {
      const o = await observeOnServers(servers, 'bench.test', SRV, 'SRV', options);
      if (o.agree && o.records?.[0]?.data.target === records[0].data.target) break;
      await new Promise((r) => setTimeout(r, 20));
    }
  }),
]);

console.log('## DNS transport\n');
console.log('| operation | client | median |');
console.log('|---|---|---|');
for (const [op, client, ms] of rows) console.log(`| ${op} | ${client} | ${fmt(ms)} ms |`);
console.log(
  `\nMedians of sequential runs against gdnsd 3.8 ×2 and knot 3.2 started by the benchmark on ${BASE}.11-13 (loopback, 2 shared cores). Process-based tools include their start-up, which is what an operator pays per command; the zone-file row runs the backend with a local runner instead of SSH (SSH costs are in the SSH section).`,
);
stop();
process.exit(0);
