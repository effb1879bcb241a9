#!/usr/bin/env node
// A client of the Galley lab's etcd, as production's clients of the conftool etcd behave, in one
// small node script (no dependencies): run as `node etcd-client.mjs CONFIG.json` by a unit of its
// client host. Its kind (in the config) says how it finds etcd and how it reads:
//   confd      discovers etcd through its datacenter's SRV record when it starts, keeps a
//              recursive watch open through the proxy, and writes what it sees to a local file
//              (as confd renders its templates);
//   pybal      takes its etcd host from its config file (`host = NAME` in an INI-like file) and
//              keeps a recursive watch open, as pybal's etcd driver does;
//   navtiming  discovers etcd through the SRV record when it starts, then reads every intervalMs.
// Every client writes its status (pid, etcd host, whether it watches) to statusFile, and appends
// what happens to eventsLog (JSON lines: start, watching, lost, read-failed, stop), so that a test
// can tell how long it went without etcd. It connects from its own host's address, so that the
// proxy's access log and `ss` name it.
import { readFileSync, writeFileSync, renameSync, appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { request } from 'node:https';
import dgram from 'node:dgram';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const ca = readFileSync(config.caFile);
const auth = `${config.username}:${readFileSync(config.passwordFile, 'utf8').trim()}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
for (const f of [config.statusFile, config.eventsLog, config.outFile].filter(Boolean))
  mkdirSync(dirname(f), { recursive: true });

const status = {
  pid: process.pid,
  watching: false,
  name: config.name,
  kind: config.kind,
  etcdHost: null,
  startedAt: new Date().toISOString(),
  lastOkAt: null,
  index: 0,
  keys: 0,
};
function writeStatus() {
  const tmp = `${config.statusFile}.tmp`;
  writeFileSync(tmp, JSON.stringify(status) + '\n');
  renameSync(tmp, config.statusFile);
}
function event(ev, extra = {}) {
  appendFileSync(
    config.eventsLog,
    JSON.stringify({ t: Date.now(), pid: process.pid, ev, host: status.etcdHost, ...extra }) + '\n',
  );
}
let watching = false;
function setWatching(on, why) {
  if (on === watching) return;
  watching = on;
  status.watching = on;
  event(on ? 'watching' : config.kind === 'navtiming' ? 'read-failed' : 'lost', why ? { why } : {});
  writeStatus();
}

// ---- DNS: one SRV query over UDP, to the first authoritative server that answers
function encodeName(name) {
  const parts = name.replace(/\.$/, '').split('.');
  return Buffer.concat([
    ...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p)])),
    Buffer.from([0]),
  ]);
}
function readName(buf, off) {
  const labels = [];
  let jumped = false;
  let end = off;
  for (let guard = 0; guard < 64; guard++) {
    const len = buf[off];
    if (len === 0) {
      if (!jumped) end = off + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (!jumped) end = off + 2;
      off = ((len & 0x3f) << 8) | buf[off + 1];
      jumped = true;
      continue;
    }
    labels.push(buf.subarray(off + 1, off + 1 + len).toString());
    off += 1 + len;
  }
  return { name: labels.join('.'), end };
}
function srvQuery(server, name) {
  return new Promise((resolve, reject) => {
    const [address, port] = server.split(':');
    const sock = dgram.createSocket('udp4');
    const id = Math.floor(Math.random() * 65535);
    const header = Buffer.alloc(12);
    header.writeUInt16BE(id, 0);
    header.writeUInt16BE(0x0000, 2); // no recursion: an authoritative server
    header.writeUInt16BE(1, 4);
    const q = Buffer.concat([header, encodeName(name), Buffer.from([0, 33, 0, 1])]);
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error(`no answer from ${server}`));
    }, 1000);
    sock.on('message', (msg) => {
      clearTimeout(timer);
      sock.close();
      if (msg.readUInt16BE(0) !== id) return reject(new Error('bad DNS id'));
      const an = msg.readUInt16BE(6);
      let off = readName(msg, 12).end + 4;
      const targets = [];
      for (let i = 0; i < an; i++) {
        off = readName(msg, off).end;
        const type = msg.readUInt16BE(off);
        const rdlen = msg.readUInt16BE(off + 8);
        const rd = off + 10;
        if (type === 33)
          targets.push({
            priority: msg.readUInt16BE(rd),
            port: msg.readUInt16BE(rd + 4),
            target: readName(msg, rd + 6).name,
          });
        off = rd + rdlen;
      }
      resolve(targets);
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      sock.close();
      reject(e);
    });
    sock.send(q, Number(port ?? 53), address);
  });
}
async function discover() {
  let last;
  for (let attempt = 0; attempt < 20; attempt++) {
    for (const s of config.dnsServers) {
      try {
        const targets = await srvQuery(s, config.srvRecord);
        if (targets.length) {
          // As confd does with its SRV lookup: one of the targets, at random.
          const t = targets[Math.floor(Math.random() * targets.length)];
          return { host: t.target, port: t.port };
        }
        last = new Error(`${config.srvRecord} has no targets`);
      } catch (e) {
        last = e;
      }
    }
    await sleep(250);
  }
  throw last;
}
function configuredHost() {
  const text = readFileSync(config.etcdConfigFile, 'utf8');
  const host = /^\s*host\s*=\s*(\S+)/m.exec(text)?.[1];
  const port = /^\s*port\s*=\s*(\d+)/m.exec(text)?.[1];
  if (!host) throw new Error(`${config.etcdConfigFile} names no etcd host (host = NAME)`);
  return { host, port: Number(port ?? 4001) };
}

// ---- etcd v2 through the proxy (TLS, basic auth), from this host's own address
let inFlight;
function get(target, path, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = request({
      host: target.host,
      port: target.port,
      path,
      method: 'GET',
      ca,
      auth,
      servername: target.host,
      localAddress: config.address,
      agent: false,
      timeout: timeoutMs,
    });
    inFlight = req;
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        try {
          resolve({
            status: res.statusCode,
            index: Number(res.headers['x-etcd-index'] ?? 0),
            body: JSON.parse(body),
          });
        } catch {
          reject(new Error(`HTTP ${res.statusCode}: ${body.slice(0, 100)}`));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
const keys = new Map();
function walk(n) {
  if (!n) return;
  if (!n.dir && n.key) keys.set(n.key, n.value);
  for (const c of n.nodes ?? []) walk(c);
}
function render() {
  if (!config.outFile) return;
  const tmp = `${config.outFile}.tmp`;
  writeFileSync(tmp, JSON.stringify(Object.fromEntries([...keys].sort()), null, 1) + '\n');
  renameSync(tmp, config.outFile);
}
const prefix = config.prefix ?? '/conftool';
async function list(target) {
  const r = await get(target, `/v2/keys${prefix}?recursive=true&quorum=false`, 5000);
  if (r.status === 404) return r.index;
  if (r.status !== 200) throw new Error(`HTTP ${r.status} ${r.body?.message ?? ''}`);
  keys.clear();
  walk(r.body.node);
  render();
  status.keys = keys.size;
  return r.index;
}
async function watch(target) {
  let index = await list(target);
  setWatching(true);
  status.lastOkAt = new Date().toISOString();
  status.index = index;
  writeStatus();
  for (;;) {
    const r = await get(target, `/v2/keys${prefix}?wait=true&recursive=true&waitIndex=${index + 1}`, 0);
    if (r.status === 400 && r.body?.errorCode === 401) {
      index = await list(target);
      continue;
    }
    if (r.status !== 200) throw new Error(`HTTP ${r.status} ${r.body?.message ?? ''}`);
    const n = r.body.node;
    if (r.body.action === 'delete' || r.body.action === 'expire') keys.delete(n.key);
    else walk(n);
    index = n.modifiedIndex;
    render();
    status.keys = keys.size;
    status.index = index;
    status.lastOkAt = new Date().toISOString();
    writeStatus();
  }
}
async function poll(target) {
  for (;;) {
    await list(target);
    setWatching(true);
    status.lastOkAt = new Date().toISOString();
    writeStatus();
    await sleep(config.intervalMs ?? 500);
  }
}

let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
  event('stop');
  inFlight?.destroy();
  process.exit(0);
});

const target = config.kind === 'pybal' ? configuredHost() : await discover();
status.etcdHost = target.host;
event('start');
writeStatus();
for (;;) {
  try {
    await (config.kind === 'navtiming' ? poll(target) : watch(target));
  } catch (e) {
    if (stopping) break;
    setWatching(false, String(e.message ?? e));
    await sleep(500);
  }
}
