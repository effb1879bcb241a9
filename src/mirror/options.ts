import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MIRROR_EXIT_CODES_HELP, MirrorUsageError } from './errors.js';
import { DEFAULT_IGNORE_REGEX, normalizePrefix } from './keys.js';
import type { LogLevel } from '../core/log.js';

/** The validated command line of etcdmirror. */
export interface MirrorCliOptions {
  srcUrl: string;
  dstUrl: string;
  srcPrefix: string;
  dstPrefix: string;
  strip: boolean;
  ignoreRegex: string;
  reload: boolean;
  resyncOnGap: boolean;
  listen: { host: string; port: number } | undefined;
  passwordFile: string | undefined;
  caFile: string | undefined;
  logLevel: LogLevel;
  concurrency: number;
  isHelp: boolean;
}

export const MIRROR_USAGE = `etcdmirror: strict, fast, crash-safe replication of an etcd v2 keyspace to another cluster

USAGE
  etcdmirror [--reload] [--src-prefix P] [--dst-prefix Q] [--strip] [--src-ignore-keys-regex RE]
             [--listen ADDR:PORT] [--resync-on-gap] [--password-file F] [--ca-file F]
             [--log-level debug|info|error] [--concurrency N] SRC_URL DST_URL

  Applies every write under the source prefix to the destination, strictly (create with
  prevExist=false, compare-and-swap and deletes conditioned on the previous value, expire as a
  delete), and records the last applied source index in /__replication<dst-prefix>
  (/__replication/__ROOT__ for /). It refuses to start without that key: run once with --reload.

ARGUMENTS
  SRC_URL  source cluster, e.g. https://user@conf2001.codfw.wmnet:4001 (password from --password-file);
           several members separated by commas: a member that does not answer is skipped
  DST_URL  destination cluster, e.g. http://127.0.0.1:2379 (several members too, comma-separated)

FLAGS
  --reload                 ERASE the destination prefix, copy every key from the source, record its index,
                           then replicate
  --src-prefix P           replicate the keys under P (default /)
  --dst-prefix Q           write them under Q (default /)
  --strip                  remove the source prefix from keys before adding the destination prefix
  --src-ignore-keys-regex  source keys never replicated (they still advance the index)
                           (default ${DEFAULT_IGNORE_REGEX})
  --listen ADDR:PORT       HTTP endpoint with /lag, /metrics, /health (default 127.0.0.1:8000; "off": none)
  --resync-on-gap          when the source's history no longer holds the next event, repair the destination
                           from a consistent snapshot (only the differences) and continue, instead of exiting 5
  --password-file F        password for a URL that names a user without a password (kept out of ps and logs)
  --ca-file F              CA bundle for https URLs
  --log-level L            debug (every event), info (default) or error
  --concurrency N          destination writes in flight (default 32)

${MIRROR_EXIT_CODES_HELP}
`;

function parseListen(raw: string): { host: string; port: number } | undefined {
  if (raw === 'off') return undefined;
  const m = /^(.*):(\d+)$/.exec(raw);
  if (!m || Number(m[2]) > 65535)
    throw new MirrorUsageError(`--listen ${raw}: expected ADDR:PORT, e.g. 127.0.0.1:8000`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port: Number(m[2]) };
}

/** Parses and validates etcdmirror's arguments (no side effect but reading nothing). */
export function parseMirrorArgs(argv: string[]): MirrorCliOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        reload: { type: 'boolean', default: false },
        'src-prefix': { type: 'string', default: '/' },
        'dst-prefix': { type: 'string', default: '/' },
        strip: { type: 'boolean', default: false },
        'src-ignore-keys-regex': { type: 'string', default: DEFAULT_IGNORE_REGEX },
        listen: { type: 'string', default: '127.0.0.1:8000' },
        'resync-on-gap': { type: 'boolean', default: false },
        'password-file': { type: 'string' },
        'ca-file': { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
        concurrency: { type: 'string', default: '32' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    throw new MirrorUsageError((e as Error).message, ['etcdmirror --help']);
  }
  const v = parsed.values;
  const isHelp = v.help === true;
  const [srcUrl, dstUrl, ...extra] = parsed.positionals;
  if (!isHelp && (!srcUrl || !dstUrl || extra.length))
    throw new MirrorUsageError('expected exactly two arguments: SRC_URL DST_URL', ['etcdmirror --help']);
  for (const u of [srcUrl, dstUrl].flatMap((x) => (x === undefined ? [] : x.split(',')))) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new MirrorUsageError(`not a URL: ${u}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new MirrorUsageError(`${url.origin}: only http and https URLs are supported`);
  }
  const level = v['log-level'] as string;
  if (level !== 'debug' && level !== 'info' && level !== 'error')
    throw new MirrorUsageError(`--log-level ${level}: use debug, info or error`);
  const concurrency = Number(v.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256)
    throw new MirrorUsageError(`--concurrency ${v.concurrency}: a number from 1 to 256`);
  const ignoreRegex = v['src-ignore-keys-regex'] as string;
  try {
    new RegExp(ignoreRegex);
  } catch (e) {
    throw new MirrorUsageError(`--src-ignore-keys-regex: ${(e as Error).message}`);
  }
  return {
    srcUrl: srcUrl ?? '',
    dstUrl: dstUrl ?? '',
    srcPrefix: normalizePrefix(v['src-prefix'] as string),
    dstPrefix: normalizePrefix(v['dst-prefix'] as string),
    strip: v.strip === true,
    ignoreRegex,
    reload: v.reload === true,
    resyncOnGap: v['resync-on-gap'] === true,
    listen: parseListen(v.listen as string),
    passwordFile: v['password-file'],
    caFile: v['ca-file'],
    logLevel: level,
    concurrency,
    isHelp,
  };
}

/** Reads a file given on the command line, with a usage error naming the flag when it cannot. */
export function readFlagFile(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new MirrorUsageError(
      `${flag} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
    );
  }
}
