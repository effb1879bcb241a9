import { Command } from '@oclif/core';
import { MIRROR_USAGE } from '../mirror/options.js';

/** `cookbook mirror …`: etcdmirror, with the same arguments and the same code. */
export default class Mirror extends Command {
  static override summary = 'Replicate an etcd v2 keyspace to another cluster (etcdmirror)';
  static override description = MIRROR_USAGE;
  static override strict = false;
  static override examples = [
    '<%= config.bin %> mirror --reload http://conf2001.codfw.wmnet:2379 http://conf1001.eqiad.wmnet:2379',
    '<%= config.bin %> mirror --src-prefix /conftool --dst-prefix /replica --strip SRC_URL DST_URL',
  ];

  async run(): Promise<void> {
    const { runMirrorCli } = await import('../mirror/main.js');
    const code = await runMirrorCli(this.argv);
    if (code !== 0) this.exit(code);
  }
}
