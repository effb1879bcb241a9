import { describe, expect, test } from '@jest/globals';
import {
  READ_ONLY_BODY,
  READ_ONLY_CONTENT,
  renderBackupTimer,
  renderBackupUnit,
  renderEtcdDefault,
  renderSpareEtcdDefault,
  renderMirrorReloadScript,
  renderMirrorUnit,
  renderNginxConf,
  renderSshdConfig,
  renderWmnetZone,
} from '../../../src/lab/render.js';
import { labTopology } from '../../../src/lab/topology.js';

const t = labTopology('127.22', 2);
const conf1007 = t.clusters[0]!.members[0]!;

describe('files the lab writes', () => {
  test("a host's /etc/default/etcd has its name, the full initial cluster, local client URL and advertised proxy URL", () => {
    const env = renderEtcdDefault(t, conf1007);
    expect(env).toContain('ETCD_NAME="conf1007.eqiad.wmnet"\n');
    expect(env).toContain('ETCD_DATA_DIR="/var/lib/etcd/eqiad.wmnet"\n');
    expect(env).toContain('ETCD_INITIAL_CLUSTER_STATE="new"\n');
    expect(env).toContain('ETCD_LISTEN_CLIENT_URLS="http://127.22.1.7:2379"\n');
    expect(env).toContain('ETCD_ADVERTISE_CLIENT_URLS="https://conf1007.eqiad.wmnet:4001"\n');
    expect(env).toContain('ETCD_ENABLE_V2="true"\n');
    expect(env).toContain('conf1009.eqiad.wmnet=http://127.22.1.9:2380"');
  });

  test('the read-only switch answers non-GET/HEAD requests with the etcd-style 107 error', () => {
    expect(JSON.parse(READ_ONLY_BODY)).toEqual({
      errorCode: 107,
      message: 'This cluster is in read-only mode',
      cause: '',
      index: 0,
    });
    expect(READ_ONLY_CONTENT).toContain('return 403');
    expect(READ_ONLY_CONTENT).toContain('GET|HEAD');
  });

  test('nginx listens with TLS on the host address, asks for basic auth, includes the switch and streams to the local etcd', () => {
    const conf = renderNginxConf(conf1007);
    expect(conf).toContain('listen 127.22.1.7:4001 ssl;');
    expect(conf).toContain('auth_basic_user_file /etc/nginx/etcd.htpasswd;');
    expect(conf).toContain('include /etc/nginx/etcd-readonly.conf;');
    expect(conf).toContain('server 127.22.1.7:2379;');
    expect(conf).toContain('proxy_buffering off;');
  });

  test('sshd allows key-only root login with the fast key exchange', () => {
    const conf = renderSshdConfig({ listen: ['127.22.1.7'], hostKey: '/k', authorizedKeys: '/a' });
    expect(conf).toContain('ListenAddress 127.22.1.7:22\n');
    expect(conf).toContain('PasswordAuthentication no\n');
    expect(conf).toContain('UsePAM no\n');
    expect(conf).toContain('KexAlgorithms curve25519-sha256,ecdh-sha2-nistp256\n');
  });

  test('the wmnet zone has A records, per-datacenter SRV records and the conftool record on the master, with TTL 300', () => {
    const zone = renderWmnetZone(t, 1234);
    expect(zone).toContain('conf2006.codfw.wmnet. 3600 IN A 127.22.2.6');
    expect(zone).toContain('bench002.lab.wmnet. 3600 IN A 127.22.9.2');
    expect(zone).toContain('_etcd._tcp.eqiad.wmnet. 300 IN SRV 0 1 4001 conf1008.eqiad.wmnet.');
    expect(zone).toContain('_etcd-client-ssl._tcp.conftool.wmnet. 300 IN SRV 0 1 4001 conf2004.codfw.wmnet.');
    expect(zone).not.toContain('_etcd-client-ssl._tcp.conftool.wmnet. 300 IN SRV 0 1 4001 conf1007');
    expect(zone).toMatch(/SOA .* \( 1234 /);
  });

  test("the etcdmirror unit replicates / of the master into / of its own cluster through every member's local client URL (its own host first)", () => {
    const unit = renderMirrorUnit(t, t.mirrors[0]!, '/usr/bin/node', '/repo/bin/etcdmirror.js');
    expect(unit).toContain(
      "ExecStart=/usr/bin/node /repo/bin/etcdmirror.js --resync-on-gap --src-prefix / --dst-prefix / --src-ignore-keys-regex '^/(spicerack/locks|galley/locks|galley/runs)(/|$)' --listen 127.22.1.7:8000 http://127.22.2.4:2379,http://127.22.2.5:2379,http://127.22.2.6:2379 http://127.22.1.7:2379,http://127.22.1.8:2379,http://127.22.1.9:2379\n",
    );
    const intoCodfw = renderMirrorUnit(t, t.mirrors[1]!, '/usr/bin/node', '/repo/bin/etcdmirror.js');
    expect(intoCodfw).toContain(
      'http://127.22.1.7:2379,http://127.22.1.8:2379,http://127.22.1.9:2379 http://127.22.2.4:2379,http://127.22.2.5:2379,http://127.22.2.6:2379',
    );
    expect(unit).toContain('X-LabLog=/var/log/etcdmirror-conftool-eqiad-wmnet/syslog.log');
  });

  test('the etcdmirror unit repairs a history gap itself and is restarted after a failure', () => {
    const unit = renderMirrorUnit(t, t.mirrors[0]!, '/usr/bin/node', '/repo/bin/etcdmirror.js');
    expect(unit).toMatch(/^ExecStart=.* --resync-on-gap /m);
    expect(unit).toContain('\nRestart=on-failure\n');
    expect(unit).toContain('\nRestartSec=1s\n');
    // usage, no index, inconsistency: a restart cannot fix them, an operator must see them
    expect(unit).toContain('\nRestartPreventExitStatus=2 3 4\n');
  });

  test("reload-etcdmirror runs etcdmirror with the unit's arguments plus --reload, and refuses while the unit runs", () => {
    const script = renderMirrorReloadScript(t, t.mirrors[0]!, '/usr/bin/node', '/repo/bin/etcdmirror.js');
    expect(script).toContain(
      'exec /usr/bin/node /repo/bin/etcdmirror.js --reload --src-prefix / --dst-prefix / --src-ignore-keys-regex \'^/(spicerack/locks|galley/locks|galley/runs)(/|$)\' --listen 127.22.1.7:8000 http://127.22.2.4:2379,http://127.22.2.5:2379,http://127.22.2.6:2379 http://127.22.1.7:2379,http://127.22.1.8:2379,http://127.22.1.9:2379 "$@"',
    );
    expect(script).toContain('systemctl is-active -q etcdmirror-conftool-eqiad-wmnet');
  });

  test("a spare cluster member's /etc/default/etcd lists the whole cluster with state new, in its own data directory and token", () => {
    const spare = t.spareClusters[0]!;
    const env = renderSpareEtcdDefault(spare, spare.members[1]!);
    expect(env).toContain('ETCD_NAME="kubetcd1005.eqiad.wmnet"\n');
    expect(env).toContain('ETCD_DATA_DIR="/var/lib/etcd/kubetcd"\n');
    expect(env).toContain('ETCD_INITIAL_CLUSTER_STATE="new"\n');
    expect(env).toContain('ETCD_INITIAL_CLUSTER_TOKEN="etcd-kubetcd-lab"\n');
    expect(env).toContain(
      'ETCD_INITIAL_CLUSTER="kubetcd1004.eqiad.wmnet=http://127.22.4.4:2380,kubetcd1005.eqiad.wmnet=http://127.22.4.5:2380,kubetcd1006.eqiad.wmnet=http://127.22.4.6:2380"',
    );
  });

  test('the nightly backup is a oneshot unit running cookbook etcd.backup, started by a daily timer', () => {
    const unit = renderBackupUnit('codfw', '/usr/bin/node', '/repo/bin/run.js', '/lab/galley.yaml');
    expect(unit).toContain('Type=oneshot\n');
    expect(unit).toContain(
      "ExecStart=/usr/bin/node /repo/bin/run.js etcd.backup codfw --yes --config /lab/galley.yaml --reason 'nightly backup'\n",
    );
    expect(renderBackupTimer()).toMatch(/\[Timer\][\s\S]*OnCalendar=02:00\nUnit=etcd-backup\.service\n/);
  });
});
