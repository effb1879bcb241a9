#!/usr/bin/env node
// etcd.switchover benchmark: over N switchovers in the lab (alternating codfw → eqiad and
// back), the read-only window as a live writer that re-resolves the conftool SRV record after
// a refusal sees it (its last acknowledgement before its first refusal to its first
// acknowledgement by the new master), the same for a writer that honours the TTL strictly
// (the peer: what a client that does not re-resolve sees), and the run's total time. Every
// acknowledged write is checked to be in the final master. Runs the built CLI (dist/).
// The lab: GALLEY_BENCH_CONFIG (an environment file of a lab already up), else a lab brought
// up in GALLEY_BENCH_LAB_BASE (default 127.24) / GALLEY_BENCH_LAB_DIR. N: GALLEY_BENCH_SWITCHOVERS (default 5).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { loadConfig } = await import(join(root, 'dist/src/config/load.js'));
const { LiveWriter, lostWrites, clearLiveKeys, readOnlyWindowMs } = await import(
  join(root, 'dist/src/lab/live-clients.js')
);
const log = (m) => process.stderr.write(`switchover bench: ${m}\n`);

let configFile = process.env.GALLEY_BENCH_CONFIG;
if (!configFile) {
  const { labUp } = await import(join(root, 'dist/src/lab/index.js'));
  const r = await labUp({
    dir: process.env.GALLEY_BENCH_LAB_DIR ?? '/tmp/galley-bench-lab',
    base: process.env.GALLEY_BENCH_LAB_BASE ?? '127.24',
  });
  configFile = r.configFile;
}
const config = loadConfig(configFile);
const n = Number(process.env.GALLEY_BENCH_SWITCHOVERS ?? 5);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length
    ? s.length % 2
      ? s[(s.length - 1) / 2]
      : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
    : NaN;
};
const rows = [];
let from = config.replication.master;
for (let i = 0; i < n; i++) {
  const to = config.datacenters.find((d) => d !== from);
  const fast = new LiveWriter(config, `bench-reresolve-${i}`, {
    reresolve: 'on-refusal',
    intervalMs: 20,
  }).start();
  const strict = new LiveWriter(config, `bench-strict-${i}`, { reresolve: 'ttl', intervalMs: 20 }).start();
  await new Promise((r) => setTimeout(r, 1000));
  const started = Date.now();
  // spawnSync would block the writers' event loop: run the CLI asynchronously.
  const { spawn } = await import('node:child_process');
  const code = await new Promise((resolve) => {
    const c = spawn(
      process.execPath,
      [join(root, 'bin/run.js'), 'etcd.switchover', '--from', from, '--to', to, '-y'],
      { env: { ...process.env, GALLEY_CONFIG: configFile }, stdio: 'ignore' },
    );
    c.on('exit', resolve);
  });
  const totalMs = Date.now() - started;
  await new Promise((r) => setTimeout(r, 2000));
  const [a, b] = [await fast.stop(), await strict.stop()];
  if (code !== 0) throw new Error(`switchover ${from} → ${to} failed (exit ${code})`);
  const lost = (await lostWrites(config, to, [...a.acks, ...b.acks])).length;
  rows.push({
    from,
    to,
    window: readOnlyWindowMs(a),
    strictWindow: readOnlyWindowMs(b),
    totalMs,
    acks: a.acks.length + b.acks.length,
    lost,
  });
  log(
    `${from} → ${to}: window ${readOnlyWindowMs(a)} ms, strict ${readOnlyWindowMs(b)} ms, total ${totalMs} ms, lost ${lost}`,
  );
  await clearLiveKeys(config, to);
  from = to;
}
if (from !== config.replication.master) {
  const back = spawnSync(
    process.execPath,
    [join(root, 'bin/run.js'), 'etcd.switchover', '--from', from, '--to', config.replication.master, '-y'],
    { env: { ...process.env, GALLEY_CONFIG: configFile }, stdio: 'ignore' },
  );
  if (back.status !== 0) log(`switching back to ${config.replication.master} failed (exit ${back.status})`);
}
const fmt = (ms) => (ms === undefined || Number.isNaN(ms) ? '–' : `${(ms / 1000).toFixed(2)} s`);
const windows = rows.map((r) => r.window).filter((x) => x !== undefined);
const strict = rows.map((r) => r.strictWindow).filter((x) => x !== undefined);
console.log(`## etcd.switchover: read-only window and total time (${n} switchovers, live writers)

${n} switchovers in the lab (${configFile}), alternating directions, each with two live writers
writing every 20 ms through the conftool SRV record: one re-resolves after a refusal, the peer
honours the TTL strictly (the TTL wait is capped by replication.ttl_wait_max in the lab, so it
keeps sending to the old master's read-only proxies until its 300 s TTL passes, or until
a re-resolution after the lowered TTL). Window: last acknowledgement before the first refusal
→ first acknowledgement by the new master.

| # | direction | window (re-resolving) | window (TTL-strict) | total | acknowledged writes | lost |
|---|---|---|---|---|---|---|
${rows.map((r, i) => `| ${i + 1} | ${r.from} → ${r.to} | ${fmt(r.window)} | ${fmt(r.strictWindow)} | ${fmt(r.totalMs)} | ${r.acks} | ${r.lost} |`).join('\n')}

Median window (re-resolving writer): **${fmt(median(windows))}**; TTL-strict writer: ${fmt(median(strict))};
median total: ${fmt(median(rows.map((r) => r.totalMs)))}; window / total: ${(median(windows) / median(rows.map((r) => r.totalMs))).toFixed(2)}.
Writes lost: ${rows.reduce((s, r) => s + r.lost, 0)}.`);
