import { pathToFileURL } from 'node:url';
import { formatError } from '../core/errors.js';
import { levelLogger } from '../core/log.js';
import { etcdClientForUrl } from '../etcd/factory.js';
import { MirrorExit, type MirrorExitCode, mirrorExitOf } from './errors.js';
import { KeyMapper } from './keys.js';
import { Mirror } from './mirror.js';
import { MIRROR_USAGE, parseMirrorArgs, readFlagFile } from './options.js';

/** How long one request to either cluster may take before it is retried (a write's read-and-compare recognises one that landed). */
const REQUEST_TIMEOUT_MS = 15_000;

/**
 * Runs etcdmirror with command-line arguments (without the program name) until it stops;
 * resolves with the exit code. SIGTERM and SIGINT stop it cleanly.
 */
export async function runMirrorCli(argv: string[]): Promise<MirrorExitCode> {
  let mirror: Mirror | undefined;
  let isStopRequested = false;
  const onSignal = (): void => {
    isStopRequested = true;
    mirror?.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    return await runUntilStopped();
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }

  async function runUntilStopped(): Promise<MirrorExitCode> {
    try {
      const o = parseMirrorArgs(argv);
      if (o.isHelp) {
        process.stdout.write(MIRROR_USAGE);
        return MirrorExit.OK;
      }
      const password = o.passwordFile
        ? readFlagFile('--password-file', o.passwordFile)
            .toString('utf8')
            .replace(/\r?\n$/, '')
        : undefined;
      const ca = o.caFile ? readFlagFile('--ca-file', o.caFile) : undefined;
      const log = levelLogger(o.logLevel);
      // Requests time out (and are retried) after REQUEST_TIMEOUT_MS; for the watch stream and its
      // long-polls that covers the response headers only.
      const common = { password, ca, caFile: o.caFile, timeoutMs: REQUEST_TIMEOUT_MS };
      const src = etcdClientForUrl(o.srcUrl, { ...common, maxSockets: 32 });
      const dst = etcdClientForUrl(o.dstUrl, { ...common, maxSockets: o.concurrency + 8 });
      const mapper = new KeyMapper({
        srcPrefix: o.srcPrefix,
        dstPrefix: o.dstPrefix,
        strip: o.strip,
        ignoreRegex: o.ignoreRegex,
      });
      mirror = new Mirror({
        src,
        dst,
        mapper,
        log,
        reload: o.reload,
        resyncOnGap: o.resyncOnGap,
        concurrency: o.concurrency,
        listen: o.listen,
      });
    } catch (e) {
      process.stderr.write(`etcdmirror: ${formatError(e)}\n`);
      return mirrorExitOf(e);
    }
    if (isStopRequested) return MirrorExit.OK;
    return mirror.run();
  }
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(entry).href) {
  process.exitCode = await runMirrorCli(process.argv.slice(2));
}
