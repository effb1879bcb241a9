import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import type { SrvAnswer, StringAnswer } from 'dns-packet';
import { execa } from 'execa';
import { labConfig } from '../lab.js';
import { dnsQuery, httpsRequest, ssh, testLab } from './helpers.js';

const lab = testLab();
const config = labConfig();
const unique = () => randomBytes(4).toString('hex');

describe('the lab commands', () => {
  const cli = (args: string[]) =>
    execa(process.execPath, ['bin/dev.js', ...args], {
      env: { GALLEY_LAB_DIR: lab.dir, NODE_OPTIONS: '' },
      reject: false,
    });

  test('lab status --json names the environment file, the hosts, the URLs and the credential files, and reports the lab up', async () => {
    const r = await cli(['lab', 'status', '--json']);
    expect(r.exitCode).toBe(0);
    const s = JSON.parse(r.stdout) as typeof lab;
    expect(s.config).toBe(process.env.GALLEY_TEST_CONFIG);
    expect(s.up).toBe(true);
    expect(s.hosts).toContainEqual({
      name: 'conf2004.codfw.wmnet',
      datacenter: 'codfw',
      role: 'etcd',
      address: config.hosts['conf2004.codfw.wmnet']!.address,
    });
    expect(s.etcd.codfw!.proxyUrls).toHaveLength(3);
    expect(s.credentials.passwordFile).toBe(lab.credentials.passwordFile);
  });

  test('lab ssh runs a command on the named host', async () => {
    const r = await cli(['lab', 'ssh', 'authdns2001', '--', 'hostname']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toBe('authdns2001.codfw.wmnet');
  });
});

describe('etcd clusters of the lab', () => {
  test('every member answers healthy on its local client URL', async () => {
    const urls = Object.values(lab.etcd).flatMap((e) => e.clientUrls);
    const health = await Promise.all(
      urls.map(async (u) => ((await (await fetch(`${u}/health`)).json()) as { health: string }).health),
    );
    expect(health).toEqual(urls.map(() => 'true'));
  });

  test('each cluster has exactly one leader and three members', async () => {
    for (const e of Object.values(lab.etcd)) {
      const statuses = await Promise.all(
        e.clientUrls.map(async (u) => (await fetch(`${u}/v2/stats/leader`)).status),
      );
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      const members = (await (await fetch(`${e.clientUrls[0]}/v2/members`)).json()) as { members: unknown[] };
      expect(members.members).toHaveLength(3);
    }
  });

  test('the master holds conftool pools and spicerack locks, and the replica a copy with the replication index', async () => {
    const master = lab.etcd.codfw!.clientUrls[0]!;
    const replica = lab.etcd.eqiad!.clientUrls[0]!;
    const pool = (await (
      await fetch(`${master}/v2/keys/conftool/v1/pools/codfw/appserver/apache2?recursive=true`)
    ).json()) as {
      node: { nodes: { value: string }[] };
    };
    expect(pool.node.nodes.length).toBeGreaterThan(0);
    expect(JSON.parse(pool.node.nodes[0]!.value)).toEqual({ pooled: 'yes', weight: 10 });
    expect((await fetch(`${master}/v2/keys/spicerack/locks/cookbooks/sre.hosts.reimage`)).status).toBe(200);
    const copy = await fetch(`${replica}/v2/keys/conftool/v1/pools/codfw/appserver/apache2?recursive=true`);
    expect(copy.status).toBe(200);
    const index = (await (await fetch(`${replica}/v2/keys/__replication/__ROOT__`)).json()) as {
      node: { value: string };
    };
    expect(Number(index.node.value)).toBeGreaterThan(0);
  });
});

describe('the nginx proxy in front of etcd', () => {
  test('the codfw proxy accepts a write with credentials and refuses it (401) without', async () => {
    const url = `${lab.etcd.codfw!.proxyUrls[0]}/v2/keys/galley-lab-test/${unique()}`;
    const ok = await httpsRequest(lab, url, { method: 'PUT', auth: true, form: { value: 'v1' } });
    expect(ok.status).toBe(201);
    expect((JSON.parse(ok.body) as { node: { value: string } }).node.value).toBe('v1');
    const refused = await httpsRequest(lab, url, { method: 'PUT', form: { value: 'v2' } });
    expect(refused.status).toBe(401);
  });

  test('the eqiad proxy is read-only: a write gets 403 with etcd errorCode 107', async () => {
    const url = `${lab.etcd.eqiad!.proxyUrls[1]}/v2/keys/galley-lab-test/${unique()}`;
    const r = await httpsRequest(lab, url, { method: 'PUT', auth: true, form: { value: 'x' } });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toEqual({
      errorCode: 107,
      message: 'This cluster is in read-only mode',
      cause: '',
      index: 0,
    });
  });

  test('the eqiad proxy serves reads and long-poll watches', async () => {
    const key = `/galley-lab-test/watch-${unique()}`;
    const proxy = lab.etcd.eqiad!.proxyUrls[2]!;
    const read = await httpsRequest(lab, `${proxy}/v2/keys/conftool/v1/pools`, { auth: true });
    expect(read.status).toBe(200);
    const watch = httpsRequest(lab, `${proxy}/v2/keys${key}?wait=true`, { auth: true, timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 300));
    const put = await fetch(`${lab.etcd.eqiad!.clientUrls[0]}/v2/keys${key}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'value=seen',
    });
    expect(put.status).toBe(201);
    const event = JSON.parse((await watch).body) as { action: string; node: { value: string } };
    expect(event).toMatchObject({ action: 'set', node: { value: 'seen' } });
    // Written into the replica directly: remove it, so that the replica holds only what replication put there.
    expect((await fetch(`${lab.etcd.eqiad!.clientUrls[0]}/v2/keys${key}`, { method: 'DELETE' })).status).toBe(
      200,
    );
  });

  test('the read-only switch of the environment file flips the eqiad proxy to read-write and back with an nginx reload', async () => {
    const sw = config.proxy!.readOnlySwitch;
    const eqiad = config.etcd.clusters.eqiad!.members;
    const url = `${lab.etcd.eqiad!.proxyUrls[0]}/v2/keys/galley-lab-test/${unique()}`;
    const flip = (content: string) =>
      Promise.all(
        eqiad.map((h) => ssh(lab, h, `cat > ${sw.file} && ${sw.reloadCommand.join(' ')}`, content)),
      );
    try {
      expect((await flip(sw.readWriteContent)).map((r) => r.exitCode)).toEqual([0, 0, 0]);
      await new Promise((r) => setTimeout(r, 500));
      expect(
        (await httpsRequest(lab, url, { method: 'PUT', auth: true, form: { value: 'rw' } })).status,
      ).toBe(201);
    } finally {
      expect((await flip(sw.readOnlyContent)).map((r) => r.exitCode)).toEqual([0, 0, 0]);
    }
    await new Promise((r) => setTimeout(r, 500));
    expect((await httpsRequest(lab, url, { method: 'PUT', auth: true, form: { value: 'ro' } })).status).toBe(
      403,
    );
    // Written into the replica directly: remove it (on the local port, which the switch does not guard).
    const local = url.replace(lab.etcd.eqiad!.proxyUrls[0]!, lab.etcd.eqiad!.clientUrls[0]!);
    expect((await fetch(local, { method: 'DELETE' })).status).toBe(200);
  });

  test('the environment file names the read-only switch and the proxy credentials', () => {
    expect(config.proxy?.readOnlySwitch.file).toBe('/etc/nginx/etcd-readonly.conf');
    expect(config.etcd.credentials?.password.reveal()).toBe(
      readFileSync(lab.credentials.passwordFile, 'utf8').trim(),
    );
  });
});

describe('authoritative DNS of the lab', () => {
  const servers = lab.dns.authdns;

  test('every authdns server answers the SRV records with TTL 300', async () => {
    for (const s of servers) {
      for (const [dc, members] of [
        ['eqiad', config.etcd.clusters.eqiad!.members],
        ['codfw', config.etcd.clusters.codfw!.members],
      ] as const) {
        const r = await dnsQuery(s.address, s.port, `_etcd._tcp.${dc}.wmnet`, 'SRV');
        const answers = (r.answers ?? []) as SrvAnswer[];
        expect(answers.map((a) => a.data.target).sort()).toEqual([...members].sort());
        expect(answers.every((a) => a.ttl === 300 && a.data.port === 4001)).toBe(true);
      }
      const rw = await dnsQuery(s.address, s.port, config.replication!.rwSrvRecord, 'SRV');
      expect(((rw.answers ?? []) as SrvAnswer[]).map((a) => a.data.target).sort()).toEqual(
        [...config.etcd.clusters.codfw!.members].sort(),
      );
    }
  });

  test('every authdns server answers the A record of every conf host', async () => {
    for (const s of servers) {
      for (const name of [...config.etcd.clusters.eqiad!.members, ...config.etcd.clusters.codfw!.members]) {
        const r = await dnsQuery(s.address, s.port, name, 'A');
        expect(((r.answers ?? []) as StringAnswer[]).map((a) => a.data)).toEqual([
          config.hosts[name]!.address,
        ]);
      }
    }
  });

  test('authdns-update publishes an edited zone to both servers and refuses a broken one', async () => {
    const zone = '/srv/authdns/git/zones/wmnet';
    const src = config.dns!.zones.wmnet!.backend;
    expect(src.type).toBe('zonefile');
    const editor = servers[0]!.name;
    const original = (await ssh(lab, editor, `cat ${zone}`)).stdout + '\n';
    const good = `published-${unique()}.eqiad.wmnet`;
    const bad = `unpublished-${unique()}.eqiad.wmnet`;
    try {
      expect(
        (await ssh(lab, editor, `echo '${good}. 300 IN A 10.64.0.1' >> ${zone} && authdns-update`)).exitCode,
      ).toBe(0);
      for (const s of servers) {
        const r = await dnsQuery(s.address, s.port, good, 'A');
        expect(((r.answers ?? []) as StringAnswer[]).map((a) => a.data)).toEqual(['10.64.0.1']);
      }
      const broken = await ssh(
        lab,
        editor,
        `printf '%s\\n' '${bad}. 300 IN A 10.64.0.2' 'this is not a record' >> ${zone} && authdns-update`,
      );
      expect(broken.exitCode).not.toBe(0);
      expect(broken.stderr).toContain('nothing was published');
      for (const s of servers) {
        const r = await dnsQuery(s.address, s.port, bad, 'A');
        expect((r as { rcode?: string }).rcode).toBe('NXDOMAIN');
      }
    } finally {
      await ssh(lab, editor, `cat > ${zone} && authdns-update`, original);
    }
  });
});

describe('knot with RFC 2136 updates', () => {
  const knot = lab.dns.knot;
  const nsupdate = (name: string, key?: string) =>
    execa('knsupdate', key ? ['-y', key] : [], {
      input: `server ${knot.address} ${knot.port}\nzone wmnet\nupdate add ${name}. 300 A 10.65.0.1\nsend\n`,
      reject: false,
    });

  test('a TSIG-signed update is accepted and served', async () => {
    const name = `signed-${unique()}.codfw.wmnet`;
    const secret = readFileSync(lab.credentials.tsigSecretFile, 'utf8').trim();
    const r = await nsupdate(name, `hmac-sha256:${lab.credentials.tsigKeyName}:${secret}`);
    expect(r.exitCode).toBe(0);
    const answer = await dnsQuery(knot.address, knot.port, name, 'A');
    expect(((answer.answers ?? []) as StringAnswer[]).map((a) => a.data)).toEqual(['10.65.0.1']);
  });

  test('an unsigned update is refused (NOTAUTH) and changes nothing', async () => {
    const name = `unsigned-${unique()}.codfw.wmnet`;
    const r = await nsupdate(name);
    expect(r.exitCode).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toContain('NOTAUTH');
    expect(((await dnsQuery(knot.address, knot.port, name, 'A')) as { rcode?: string }).rcode).toBe(
      'NXDOMAIN',
    );
  });
});

describe('conf hosts are distinct hosts over SSH', () => {
  const confHosts = [...config.etcd.clusters.eqiad!.members, ...config.etcd.clusters.codfw!.members];

  test('each conf host reports its own hostname and its own etcd data dir', async () => {
    const results = await Promise.all(
      confHosts.map((h) =>
        ssh(lab, h, '. /etc/default/etcd; hostname; echo "$ETCD_NAME $ETCD_DATA_DIR"; ls "$ETCD_DATA_DIR"'),
      ),
    );
    results.forEach((r, i) => {
      const dc = config.hosts[confHosts[i]!]!.datacenter;
      expect(r.exitCode).toBe(0);
      expect(r.stdout.split('\n')).toEqual([
        confHosts[i],
        `${confHosts[i]} /var/lib/etcd/${dc}.wmnet`,
        'member',
      ]);
    });
  });

  test("systemctl restart etcd over SSH restarts only that host's etcd", async () => {
    const mainPids = async () =>
      Promise.all(
        confHosts.map(async (h) =>
          (await ssh(lab, h, 'systemctl show -p MainPID --value etcd')).stdout.trim(),
        ),
      );
    const before = await mainPids();
    const target = confHosts.indexOf('conf2005.codfw.wmnet');
    const r = await ssh(lab, confHosts[target]!, 'systemctl restart etcd && systemctl is-active etcd');
    expect(r).toMatchObject({ exitCode: 0, stdout: 'active' });
    const after = await mainPids();
    expect(after[target]).not.toBe(before[target]);
    expect(after.filter((_, i) => i !== target)).toEqual(before.filter((_, i) => i !== target));
    const health = await fetch(`http://${config.hosts[confHosts[target]!]!.address}:2379/health`);
    expect(health.status).toBe(200);
  });

  test('inside a host, lab names resolve and hostname -f is the FQDN', async () => {
    const r = await ssh(
      lab,
      'conf1008.eqiad.wmnet',
      'hostname -f; getent hosts conf2004.codfw.wmnet authdns1001.eqiad.wmnet',
    );
    expect(r.stdout.split('\n').map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual([
      'conf1008.eqiad.wmnet',
      `${config.hosts['conf2004.codfw.wmnet']!.address} conf2004.codfw.wmnet`,
      `${config.hosts['authdns1001.eqiad.wmnet']!.address} authdns1001.eqiad.wmnet`,
    ]);
  });

  test("the host's systemctl stops, starts and reports a unit with systemd's exit codes", async () => {
    const host = 'conf2006.codfw.wmnet';
    const stopped = await ssh(
      lab,
      host,
      'systemctl stop nginx; systemctl is-active nginx; echo rc=$?; systemctl status nginx >/dev/null; echo rc=$?',
    );
    expect(stopped.stdout.split('\n')).toEqual(['inactive', 'rc=3', 'rc=3']);
    const started = await ssh(
      lab,
      host,
      'systemctl start nginx && systemctl is-active nginx && systemctl status nginx',
    );
    expect(started.exitCode).toBe(0);
    expect(started.stdout).toContain('Active: active (running)');
    const unknown = await ssh(lab, host, 'systemctl start no-such-unit');
    expect(unknown.exitCode).toBe(5);
    expect(unknown.stderr).toContain('Unit no-such-unit.service could not be found.');
  });

  test('the etcdmirror unit is defined on its host and known to its systemctl', async () => {
    const mirror = config.replication!.mirrors.eqiad!;
    const r = await ssh(
      lab,
      mirror.host,
      `grep -c '^ExecStart=.*etcdmirror' /etc/systemd/system/${mirror.unit}.service; systemctl is-active ${mirror.unit}`,
    );
    expect(r.stdout.split('\n')[0]).toBe('1');
    expect(['active', 'inactive']).toContain(r.stdout.split('\n')[1]);
  });
});
