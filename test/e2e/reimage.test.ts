import { afterAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { clientStatus, clientsOf } from '../../src/actions/clients.js';
import { clusterHealth, mirrorUses } from '../../src/actions/membership.js';
import { readMembers } from '../../src/actions/etcd.js';
import { checkReplicaHoldsSource } from '../../src/actions/replication.js';
import { etcdClientFor } from '../../src/etcd/index.js';
import { replicationStatus } from '../../src/inspect/etcd.js';
import { LabLayout } from '../../src/lab/layout.js';
import { waitUntil } from '../../src/util/wait.js';
import { labEnv } from '../integration/actions/harness.js';
import { labConfig, labConfigPath } from '../integration/lab.js';
import { runCliAsync, watchCli } from '../support/cli.js';
import {
  identicalOnEveryMember as identicalOn,
  labCli,
  out,
  srvTargets as srvTargetsOf,
} from '../support/lab-views.js';

const config = labConfig();
/**
 * The test's own SSH side: opened afresh for each observation, because a reimage changes a
 * host's key and only the run that reimaged it learns the new one (into known_hosts); a
 * transport opened before would refuse it, as it must.
 */
let env = labEnv(config);
async function freshEnv() {
  env.close();
  env = labEnv(labConfig());
}
const layout = new LabLayout(process.env.GALLEY_TEST_LAB_DIR!);
afterAll(() => env.close());

const cli = labCli;
const srvTargets = (name: string) => srvTargetsOf(config, name);

/** Everything a reimage moves and must give back: SRV records, every client's etcd host, the mirrors' units. */
async function where() {
  await freshEnv();
  const clients: Record<string, string> = {};
  for (const c of Object.values(config.clients!.hosts)) {
    const s = await clientStatus(env, c);
    clients[c.host] = `${s.cluster} ${s.watching}${c.kind === 'configured' ? ` ${s.etcdHost}` : ''}`;
  }
  return {
    srv: {
      codfw: await srvTargets(config.etcd.clusters.codfw!.srvRecord),
      eqiad: await srvTargets(config.etcd.clusters.eqiad!.srvRecord),
      rw: await srvTargets(config.replication!.rwSrvRecord),
    },
    clients,
    mirrors: (await mirrorUses(env)).map((m) => `${m.unit} ${m.active} ${m.source.url} ${m.destination.url}`),
  };
}

/** Waits until every member of the cluster serves the same keys (values and indexes); returns how many. */
const identicalOnEveryMember = async (cluster: string) => (await identicalOn(config, cluster)).keys;

interface ClientEvent {
  t: number;
  pid: number;
  ev: string;
  host: string | null;
}

/** The events a client logged on its host since `since` (its events.log, read from the lab's host directory). */
function clientEvents(host: string, unit: string, since: number): ClientEvent[] {
  const file = join(layout.hostDir(host), 'var-log', unit, 'events.log');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ClientEvent)
    .filter((e) => e.t >= since);
}

/** The longest time (ms) a client went without a watch (from a stop or a lost watch to the next watching), and how often it lost one. */
function watchGaps(events: ClientEvent[]): { longestMs: number; lost: number; restarts: number } {
  let down: number | undefined;
  let longestMs = 0;
  for (const e of events) {
    if (e.ev === 'stop' || e.ev === 'lost' || e.ev === 'read-failed') down ??= e.t;
    if (e.ev === 'watching' && down !== undefined) {
      longestMs = Math.max(longestMs, e.t - down);
      down = undefined;
    }
  }
  if (down !== undefined) longestMs = Math.max(longestMs, Date.now() - down);
  return {
    longestMs,
    lost: events.filter((e) => e.ev === 'lost' || e.ev === 'read-failed').length,
    restarts: events.filter((e) => e.ev === 'start').length,
  };
}

/** The member of HOST as its cluster lists it. */
async function memberOfHost(cluster: string, host: string) {
  const peer = `http://${config.hosts[host]!.address}:${config.etcd.clusters[cluster]!.peerPort}`;
  return (await readMembers(env, cluster)).members.find((m) => m.peerURLs.includes(peer));
}

/** Everything the issue's "Done when" says of a finished reimage of HOST. */
async function expectReimaged(
  host: string,
  cluster: string,
  before: Awaited<ReturnType<typeof where>>,
  oldId: string,
  since: number,
) {
  const m = await memberOfHost(cluster, host);
  expect(m?.id).toBeDefined();
  expect(m!.id).not.toBe(oldId);
  expect(m!.name).toBe(host);
  const h = await clusterHealth(env, cluster);
  expect(h.size).toBe(3);
  expect(h.members.every((x) => x.healthy)).toBe(true);
  expect(await identicalOnEveryMember(cluster)).toBeGreaterThan(10);
  expect(await where()).toEqual(before);
  const dc = config.etcd.clusters[cluster]!.datacenter;
  const runMs = Date.now() - since;
  for (const c of clientsOf(config, dc)) {
    const gaps = watchGaps(clientEvents(c.host, c.unit, since));
    // Each moved twice (away and back): two restarts, never a watch lost, no gap longer than a restart.
    expect({ client: c.host, restarts: gaps.restarts, lost: gaps.lost }).toEqual({
      client: c.host,
      restarts: 2,
      lost: 0,
    });
    // Not a time bound (the machine's speed varies): a client that stayed on the host being
    // reimaged would be without etcd for most of the run; one that moved away, for a restart.
    expect(gaps.longestMs).toBeLessThan(runMs / 2);
  }
  // Replication kept running: it runs now, and a write to the master reaches the replica.
  // Its /health may answer 503 for a moment after a restart on a loaded machine: polled, bounded.
  const running = await waitUntil({
    what: 'the mirror into eqiad healthy',
    probe: async () =>
      (await replicationStatus(config))?.mirrors.filter((x) => x.running).map((x) => x.datacenter),
    until: (dcs) => dcs?.length === 1 && dcs[0] === 'eqiad',
    timeoutMs: 30_000,
    retryOn: () => true,
  }).catch(async () =>
    (await replicationStatus(config))?.mirrors.filter((x) => x.running).map((x) => x.datacenter),
  );
  expect(running).toEqual(['eqiad']);
  const master = etcdClientFor(config, 'codfw', { via: 'local' });
  const sentinel = `/conftool/v1/galley-reimage-test/${Date.now()}`;
  try {
    await master.set(sentinel, 'after the reimage');
  } finally {
    master.close();
  }
  await waitUntil({
    what: 'eqiad holds codfw',
    probe: () => checkReplicaHoldsSource(env, 'codfw', 'eqiad'),
    timeoutMs: 15_000,
    retryOn: () => true,
  });
}

/** Runs the CLI in the background; resolves its exit code. */
function startCli(args: string[], stateDir: string) {
  const run = watchCli(args, { env: { GALLEY_CONFIG: labConfigPath(), GALLEY_STATE_DIR: stateDir } });
  return { child: run.child, done: run.done.then((r) => r.code), text: run.text };
}

describe('cookbook etcd.reimage against the lab', () => {
  test('the dry-run shows the whole plan with the real clients and connections, and changes nothing', async () => {
    const before = await where();
    const r = cli(['etcd.reimage', 'conf2004.codfw.wmnet', '--dry-run'], 0);
    const text = out(r);
    expect(text).toContain('client confd on confd2001.codfw.wmnet (srv): conf200');
    expect(text).toContain(
      'client pybal on lvs2011.codfw.wmnet (configured): conf2004.codfw.wmnet (codfw), watching',
    );
    expect(text).toMatch(
      /using conf2004\.codfw\.wmnet now: connected: .*lvs2011\.codfw\.wmnet \(127\.\d+\.5\.4\)/,
    );
    expect(text).toContain('_etcd._tcp.codfw.wmnet SRV: ');
    expect(text).toContain('lvs2011.codfw.wmnet pybal: conf2004.codfw.wmnet (codfw) → ');
    expect(text).toContain('conf2004.codfw.wmnet: reimage');
    expect(text).toContain('[IRREVERSIBLE]');
    expect(text).toContain(
      'etcd.member-remove conf2004.codfw.wmnet › Remove conf2004.codfw.wmnet from the codfw cluster',
    );
    expect(text).toContain(
      'etcd.member-add conf2004.codfw.wmnet › Add conf2004.codfw.wmnet to the codfw cluster',
    );
    expect(await where()).toEqual(before);
  }, 600_000);

  test('a failure before the reimage (a client that does not leave) rolls every client and record back', async () => {
    const before = await where();
    // Something unknown keeps a watch open on conf2005's proxy, from an address of no client host.
    const address = `${process.env.GALLEY_TEST_LAB_BASE}.5.99`;
    const password = readFileSync(join(layout.dir, 'pki', 'etcd-password'), 'utf8').trim();
    const watch = spawn('curl', [
      '-s',
      '--interface',
      address,
      '--cacert',
      join(layout.dir, 'pki', 'ca.crt'),
      '-u',
      `root:${password}`,
      '--resolve',
      `conf2005.codfw.wmnet:4001:${config.hosts['conf2005.codfw.wmnet']!.address}`,
      'https://conf2005.codfw.wmnet:4001/v2/keys/conftool?wait=true&recursive=true',
    ]);
    try {
      const r = await runCliAsync(
        ['etcd.reimage', 'conf2005.codfw.wmnet', '--yes'],
        { GALLEY_CONFIG: labConfigPath() },
        600_000,
      );
      expect(out(r)).toContain(`conf2005.codfw.wmnet is still used: connected: ${address}`);
      expect(out(r)).toContain('rollback complete');
      expect(r.code).toBe(1);
    } finally {
      watch.kill();
    }
    expect(await where()).toEqual(before);
    expect((await clusterHealth(env, 'codfw')).size).toBe(3);
  }, 300_000);

  test('conf2004.codfw.wmnet --yes: exit 0, a new member with the same name and peer URL, clients home, replication running; then a wrong host key is refused', async () => {
    const host = 'conf2004.codfw.wmnet';
    const before = await where();
    const old = await memberOfHost('codfw', host);
    const since = Date.now();
    const r = cli(['etcd.reimage', host, '--yes', '-t', 'T12'], 0);
    expect(r.stdout).toContain('✓ etcd.reimage done');
    expect(r.stdout).toContain('▶ etcd.member-remove conf2004.codfw.wmnet');
    await expectReimaged(host, 'codfw', before, old!.id, since);
    process.stderr.write(`reimage of ${host}: ${(r.ms / 1000).toFixed(1)} s\n`);

    // The journal shows the children nested under the run.
    const runId = /run (\d{8}-\d{6}-[0-9a-f]{4})/.exec(r.stdout)![1]!;
    void runId;

    // A host presenting a key the trusted source did not publish is refused.
    const keyFile = layout.hostKeyFile(host);
    const saved = mkdtempSync(join(tmpdir(), 'galley-key-'));
    copyFileSync(keyFile, join(saved, 'key'));
    copyFileSync(`${keyFile}.pub`, join(saved, 'key.pub'));
    const sshdPid = () => Number(readFileSync(join(layout.hostDir(host), 'run', 'sshd.pid'), 'utf8'));
    try {
      await execa('rm', ['-f', keyFile, `${keyFile}.pub`]);
      await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
      process.kill(sshdPid(), 'SIGHUP');
      await new Promise((res) => setTimeout(res, 500));
      const refused = cli(['exec', host, '--', 'true']);
      expect(refused.code).not.toBe(0);
      expect(out(refused)).toMatch(/host key of conf2004\.codfw\.wmnet has CHANGED/);
    } finally {
      copyFileSync(join(saved, 'key'), keyFile);
      copyFileSync(join(saved, 'key.pub'), `${keyFile}.pub`);
      process.kill(sshdPid(), 'SIGHUP');
      await new Promise((res) => setTimeout(res, 500));
    }
    cli(['exec', host, '--', 'true'], 0);
  }, 600_000);

  test('conf1008.eqiad.wmnet (the replica side): killed after the reimage, `cookbook resume` completes it', async () => {
    const host = 'conf1008.eqiad.wmnet';
    const before = await where();
    const old = await memberOfHost('eqiad', host);
    const since = Date.now();
    const stateDir = mkdtempSync(join(tmpdir(), 'galley-reimage-state-'));
    const run = startCli(['etcd.reimage', host, '--yes'], stateDir);
    const runId = await waitUntil({
      what: 'the run has reimaged the host',
      probe: async () => {
        const id = /run (\d{8}-\d{6}-[0-9a-f]{4})/.exec(run.text())?.[1];
        if (!id) return undefined;
        const journal = join(stateDir, 'runs', `${id}.jsonl`);
        const lines = existsSync(journal) ? readFileSync(journal, 'utf8').split('\n') : [];
        const reimaged = lines.some(
          (l) => l.includes('"type":"step"') && l.includes(`"title":"Reimage ${host}"`),
        );
        return reimaged ? id : undefined;
      },
      until: (x) => x !== undefined,
      timeoutMs: 300_000,
      // The next step (etcd.member-remove) starts at once and removes the member a few tens of
      // milliseconds later: look often, and freeze the run the moment the step is recorded.
      intervalMs: 2,
    });
    run.child.kill('SIGSTOP');
    run.child.kill('SIGKILL');
    await run.done;
    expect((await memberOfHost('eqiad', host))?.id).toBe(old!.id); // not removed yet: the run died first

    const shown = cli(['runs', runId!], 0, { GALLEY_STATE_DIR: stateDir });
    expect(shown.stdout).toContain(`step 7 "Reimage ${host}": done`);
    const resumed = cli(['resume', runId!, '--yes'], 0, { GALLEY_STATE_DIR: stateDir });
    expect(resumed.stdout).toContain('✓ etcd.reimage done');
    await expectReimaged(host, 'eqiad', before, old!.id, since);

    const journal = cli(['runs', runId!], 0, { GALLEY_STATE_DIR: stateDir }).stdout;
    expect(journal).toMatch(/ {2}▶ etcd\.member-remove conf1008\.eqiad\.wmnet: .*\(child run, from step 9\)/);
    expect(journal).toMatch(/ {6}verified {6}eqiad: remove member conf1008\.eqiad\.wmnet/);
    writeFileSync(join(stateDir, 'checked'), 'ok');
  }, 600_000);
});
