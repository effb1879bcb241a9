import { Command, Flags } from '@oclif/core';
import { failWith, labFlags } from '../../lab/cli.js';

/** `cookbook lab status`: the lab's endpoints, credentials and processes. */
export default class LabStatus extends Command {
  static override summary =
    'Show the lab: config path, hosts, etcd and proxy URLs, DNS servers, credential files, processes.';
  static override examples = ['<%= config.bin %> lab status', '<%= config.bin %> lab status --json'];
  static override flags = { ...labFlags, json: Flags.boolean({ summary: 'Print the same facts as JSON.' }) };

  async run(): Promise<void> {
    const { flags } = await this.parse(LabStatus);
    try {
      const { labStatus } = await import('../../lab/index.js');
      const s = labStatus({ dir: flags.dir, base: flags.base });
      if (flags.json) {
        this.log(JSON.stringify(s, null, 2));
        return;
      }
      this.log(
        `lab ${s.up ? 'UP' : 'DOWN'} (base ${s.base}, dir ${s.dir}${s.startedAt ? `, started ${s.startedAt}` : ''})`,
      );
      this.log(`config: ${s.config}\n  export GALLEY_CONFIG=${s.config}`);
      for (const [dc, e] of Object.entries(s.etcd)) {
        this.log(
          `etcd ${dc} (${e.srvRecord}): local ${e.clientUrls.join(' ')}\n  proxy ${e.proxyUrls.join(' ')}`,
        );
      }
      this.log(
        `dns: ${s.dns.authdns.map((d) => `${d.name} ${d.address}:${d.port}`).join(', ')}; knot ${s.dns.knot.address}:${s.dns.knot.port}`,
      );
      this.log(
        `monitoring: prometheus ${s.monitoring.prometheus}, alertmanager ${s.monitoring.alertmanager}, irc ${s.monitoring.irc}`,
      );
      const c = s.credentials;
      this.log(
        `credentials: CA ${c.caFile}; etcd user ${c.username}, password file ${c.passwordFile}; ssh key ${c.sshKey}, known_hosts ${c.knownHosts}; TSIG ${c.tsigKeyName} in ${c.tsigSecretFile}`,
      );
      const down = s.processes.filter((p) => !p.running);
      this.log(
        `processes: ${s.processes.length - down.length} of ${s.processes.length} running${down.length ? `; not running: ${down.map((p) => `${p.host} ${p.unit}`).join(', ')}` : ''}`,
      );
      this.log(
        `hosts: ${s.hosts
          .filter((h) => h.role !== 'bench')
          .map((h) => `${h.name} ${h.address}`)
          .join(', ')}, and ${s.hosts.filter((h) => h.role === 'bench').length} bench hosts`,
      );
    } catch (e) {
      failWith(this, e);
    }
  }
}
