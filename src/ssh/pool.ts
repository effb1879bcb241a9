import { randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import ssh2 from 'ssh2';
import type { Client, ClientChannel } from 'ssh2';
import { SshError } from './errors.js';
import { answerHostKeyAnnouncement, signWithoutQuery } from './handshake-shortcuts.js';
import type { SshIdentity } from './identity.js';
import { publicKeyAuthHandler } from './identity.js';
import { knownHostsName, type KnownHosts } from './known-hosts.js';
import type { CommandResult } from './types.js';
import {
  adaptiveFanout,
  connectThroughWindow,
  DEFAULT_RETRY_POLICY,
  FanoutWindow,
  HandshakeFailure,
  type RetryPolicy,
} from './window.js';

/** Where a host of the inventory is reached. */
export interface HostEndpoint {
  name: string;
  address: string;
  port: number;
}

/** Runs one already-quoted command line on one host; the executor's only view of SSH. */
export interface CommandTransport {
  exec(host: string, command: string, options: { stdin?: string; timeoutMs: number }): Promise<CommandResult>;
  close(): Promise<void>;
}

export interface SshPoolOptions {
  username: string;
  identity: SshIdentity;
  knownHosts: KnownHosts;
  connectTimeoutMs: number;
  /** Looks a host name up in the inventory (throws for an unknown host). */
  endpoint: (host: string) => HostEndpoint;
  /** Key exchange, most preferred first. */
  kex?: string[];
  /**
   * Handshakes in flight at once (the fan-out window), fixed. Absent: the window adapts to how
   * fast the servers complete handshakes ({@link adaptiveFanout}).
   */
  fanout?: number;
  /** Retries of refused or reset handshakes, with backoff. */
  retry?: Partial<RetryPolicy>;
  /**
   * One command per host (`cookbook exec`): each host's connection is closed as soon as its
   * command has ended, instead of being kept for the next one. At 1,000 hosts that is 1,000
   * sshd sessions not kept open on the servers (and their memory) until the slowest host is done.
   */
  oneShot?: boolean;
  /** The SSH protocol message by message (ssh2's debug lines), per host: for diagnosing a handshake. */
  protocolDebug?: (host: string, line: string) => void;
}

/** The window of a host that already holds its slot: runs at once. */
const HELD: Pick<FanoutWindow, 'run'> = { run: (fn) => fn() };

/** Where a handshake was when it failed or timed out, as the operator reads it. */
type HandshakeStage = 'tcp' | 'greeting' | 'kex' | 'auth';
const STAGE_DOING: Record<HandshakeStage, string> = {
  tcp: 'opening the TCP connection',
  greeting: "waiting for the SSH server's greeting (TCP connected, the server never spoke)",
  kex: 'during the key exchange',
  auth: 'while authenticating',
};
/** Errors worth another attempt: the server (or its backlog) turned the connection away. */
const RETRIABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE']);
const CODE_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
};

function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

/**
 * ecdh-sha2-nistp256 first: it costs sshd about 15% less CPU than curve25519 on OpenSSH 9.2,
 * and both are far cheaper here than the post-quantum default.
 */
export const DEFAULT_KEX = [
  'ecdh-sha2-nistp256',
  'curve25519-sha256',
  'curve25519-sha256@libssh.org',
  'ecdh-sha2-nistp384',
  'diffie-hellman-group14-sha256',
];

/** How long the clean-up of a timed-out command may take. */
const KILL_TIMEOUT_MS = 10_000;

/**
 * Marks a command line with a run id in its environment, so that it can be found and killed
 * if it times out. Costs nothing on the host (no extra process): closing the channel would not
 * stop the command (no tty, no SIGHUP), OpenSSH refuses "signal" requests on root sessions
 * ("session signalling requires privilege separation"), and wrapping every command in
 * timeout(1) costs a process and a shell start per command.
 */
export function markedCommand(command: string, runId: string): string {
  return `GALLEY_RUN=${runId}; export GALLEY_RUN; ${command}`;
}

/**
 * The shell script that kills a marked command: every session whose leader is a child of sshd
 * and carries the run id (in its command line, or in its environment once bash has exec'd the
 * last command). Daemons the command started have left the session and survive, as with
 * systemd. The id is written `[x]yz…` so that the script never matches itself.
 */
export function killMarkedScript(runId: string): string {
  if (!/^[0-9a-f]{8,}$/.test(runId)) throw new SshError(`invalid run id ${runId}`);
  const pattern = `GALLEY_RUN=[${runId[0]}]${runId.slice(1)}`;
  return [
    `for f in $(grep -lsa '${pattern}' /proc/[0-9]*/cmdline /proc/[0-9]*/environ); do`,
    '  p=${f#/proc/}; p=${p%%/*}',
    `  pp=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f2)`,
    '  [ "$(cat "/proc/$pp/comm" 2>/dev/null)" = sshd ] && pkill -KILL -s "$p"',
    'done',
    'true',
  ].join('\n');
}

/** Upper bound on the output kept per stream, so a runaway command cannot exhaust memory. */
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/**
 * One SSH connection per host for the life of a run: opened on first use, reused by every
 * later command, closed by close(). Host keys are checked strictly against known_hosts.
 */
export class SshPool implements CommandTransport {
  private readonly connections = new Map<string, Promise<Client>>();
  private readonly clients = new Map<string, Client>();
  private readonly sockets = new Set<Socket>();
  /** Number of SSH connections opened so far (connection reuse is observable in tests). */
  connectionsOpened = 0;

  /** Connections open (or opening) now. */
  get openConnections(): number {
    return this.connections.size;
  }

  /** The fan-out window every new connection of this pool goes through. */
  readonly window: FanoutWindow;
  private readonly retry: RetryPolicy;

  constructor(private readonly options: SshPoolOptions) {
    this.window = new FanoutWindow(options.fanout ?? adaptiveFanout(options.connectTimeoutMs));
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  }

  /** The pooled connection to `host`, opening it if needed. A failed connection is forgotten, so a later call retries. */
  connection(host: string): Promise<Client> {
    let pending = this.connections.get(host);
    if (!pending) {
      pending = this.open(host);
      this.connections.set(host, pending);
      pending.catch(() => {
        if (this.connections.get(host) === pending) this.connections.delete(host);
      });
    }
    return pending;
  }

  private open(host: string): Promise<Client> {
    const { address, port } = this.options.endpoint(host);
    // One-shot: the host already holds a slot for its whole turn (see exec), not only the handshake.
    const window = this.options.oneShot ? HELD : this.window;
    return connectThroughWindow(window, () => this.handshake(host), this.retry).catch((e: unknown) => {
      if (e instanceof SshError) throw e; // host key refused: its own message and suggestions
      throw new SshError(`cannot connect to ${host} (${address}:${port}): ${(e as Error).message}`, {
        cause: e,
      });
    });
  }

  /**
   * One handshake: TCP connect, the server's greeting, key exchange, authentication. The connect
   * timeout counts from here (the host's own start, once it has a slot in the window), and a
   * timeout names the stage the host was in. Refused and reset connections are retriable.
   */
  private handshake(host: string): Promise<Client> {
    const { address, port } = this.options.endpoint(host);
    const names = [knownHostsName(host, port), knownHostsName(address, port)];
    const hostKeyAlgorithms = this.options.knownHosts.algorithmsFor(names);
    const keyscan = `ssh-keyscan ${port === 22 ? '' : `-p ${port} `}${address}`;
    const timeoutMs = this.options.connectTimeoutMs;
    const protocolDebug = this.options.protocolDebug;
    this.connectionsOpened++;
    return new Promise<Client>((resolve, reject) => {
      const client = new ssh2.Client();
      let verifyError: Error | undefined;
      let settled = false;
      let stage: HandshakeStage = 'tcp';
      // Our own socket, so that Nagle can be turned off: it otherwise stalls the handshake
      // (after KEXINIT and NEWKEYS) and every exec on a reused connection by ~40 ms.
      const sock = netConnect({ host: address, port });
      sock.setNoDelay(true);
      this.sockets.add(sock);
      sock.once('close', () => this.sockets.delete(sock));
      sock.once('connect', () => {
        if (stage === 'tcp') stage = 'greeting';
      });
      sock.once('data', () => {
        if (stage === 'greeting') stage = 'kex';
      });
      const fail = (reason: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        client.destroy();
        sock.destroy();
        reject(verifyError ?? reason);
      };
      // A server that spoke but is slow (overloaded) is worth another try; one that never
      // answered the TCP connection or never spoke SSH is reported after this one timeout.
      const timer = setTimeout(
        () =>
          fail(
            new HandshakeFailure(
              `timed out after ${formatSeconds(timeoutMs)} ${STAGE_DOING[stage]}`,
              stage === 'kex' || stage === 'auth',
            ),
          ),
        timeoutMs,
      );
      client.on('handshake', () => {
        stage = 'auth';
      });
      client.on('ready', () => {
        if (settled) return client.end();
        settled = true;
        clearTimeout(timer);
        this.clients.set(host, client);
        resolve(client);
      });
      client.on('error', (e: Error & { code?: string; level?: string }) => {
        if (settled) return;
        const code = e.code ?? '';
        if (RETRIABLE_CODES.has(code))
          return fail(new HandshakeFailure(`${CODE_TEXT[code] ?? code} ${STAGE_DOING[stage]}`, true));
        fail(new HandshakeFailure(`${e.message} ${STAGE_DOING[stage]}`, false));
      });
      client.on('close', () => {
        if (!settled) {
          // Closed before the handshake finished: sshd dropping a connection over MaxStartups
          // closes it before speaking, which is worth another try; later it is not.
          const early = stage === 'tcp' || stage === 'greeting' || stage === 'kex';
          return fail(new HandshakeFailure(`the server closed the connection ${STAGE_DOING[stage]}`, early));
        }
        // A dropped connection is forgotten, so that the next command reconnects.
        if (this.clients.get(host) === client) {
          this.clients.delete(host);
          this.connections.delete(host);
        }
      });
      client.connect({
        sock,
        username: this.options.username,
        readyTimeout: 0, // our own timer above, which knows the stage
        authHandler: publicKeyAuthHandler(this.options.identity, this.options.username),
        algorithms: {
          kex: (this.options.kex ?? DEFAULT_KEX) as never,
          ...(hostKeyAlgorithms.length ? { serverHostKey: hostKeyAlgorithms as never } : {}),
        },
        hostVerifier: (key: Buffer): boolean => {
          try {
            this.options.knownHosts.verify(host, names, key, keyscan);
            return true;
          } catch (e) {
            verifyError = e as Error;
            return false;
          }
        },
        ...(protocolDebug ? { debug: (line: string) => protocolDebug(host, line) } : {}),
      });
      answerHostKeyAnnouncement(client);
      if (this.options.identity.kind === 'key') signWithoutQuery(client, this.options.identity.key);
    });
  }

  /**
   * Runs `command` (already quoted) on `host`; never throws: failures are results with `error` set.
   * One-shot, the host holds its slot of the window from the handshake to the end of its command
   * (as pdsh's fan-out counts whole ssh processes): the servers' work after the handshake (the
   * session, the command, its exit) is most of what a host costs them, and a window of handshakes
   * only would let that work pile up unbounded. Otherwise only handshakes take a slot: commands on
   * open connections cost the servers little.
   */
  exec(
    host: string,
    command: string,
    options: { stdin?: string; timeoutMs: number },
  ): Promise<CommandResult> {
    return this.options.oneShot && !this.connections.has(host)
      ? this.window.run(() => this.execOn(host, command, options))
      : this.execOn(host, command, options);
  }

  private async execOn(
    host: string,
    command: string,
    options: { stdin?: string; timeoutMs: number },
  ): Promise<CommandResult> {
    const started = performance.now();
    const failure = (error: string, partial: Partial<CommandResult> = {}): CommandResult => ({
      host,
      command,
      exitCode: null,
      stdout: '',
      stderr: '',
      ...partial,
      durationMs: performance.now() - started,
      error,
    });
    let client: Client;
    try {
      client = await this.connection(host);
    } catch (e) {
      return failure((e as Error).message);
    }
    const runId = randomBytes(8).toString('hex');
    return new Promise<CommandResult>((resolve) => {
      const onChannel = (err: Error | undefined, stream: ClientChannel) => {
        if (err) return resolve(failure(`cannot start the command on ${host}: ${err.message}`));
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        let sizes = [0, 0];
        const keep = (into: Buffer[], i: 0 | 1) => (d: Buffer) => {
          if ((sizes[i] ?? 0) < MAX_OUTPUT_BYTES) into.push(d);
          sizes = sizes.map((s, j) => (j === i ? s + d.length : s));
        };
        let exitCode: number | null = null;
        let signal: string | undefined;
        let settled = false;
        const text = (b: Buffer[]) => Buffer.concat(b).toString('utf8');
        const timer = setTimeout(() => {
          settled = true;
          try {
            stream.close();
          } catch {
            /* the channel may already be gone */
          }
          void this.killMarked(client, runId).then((leftover) =>
            resolve(
              failure(`timed out after ${Math.round(options.timeoutMs / 100) / 10}s${leftover}`, {
                stdout: text(stdout),
                stderr: text(stderr),
              }),
            ),
          );
        }, options.timeoutMs);
        stream.on('data', keep(stdout, 0));
        stream.stderr.on('data', keep(stderr, 1));
        stream.on('exit', (code: number | null, sig?: string) => {
          exitCode = typeof code === 'number' ? code : null;
          signal = sig;
        });
        stream.on('close', () => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          const result: CommandResult = {
            host,
            command,
            exitCode,
            stdout: text(stdout),
            stderr: text(stderr),
            durationMs: performance.now() - started,
          };
          if (exitCode === null)
            result.error = signal
              ? `killed by signal ${signal}`
              : 'the connection closed before the command exited';
          if (this.options.oneShot) this.release(host, client);
          resolve(result);
        });
        stream.end(options.stdin ?? undefined);
      };
      try {
        client.exec(markedCommand(command, runId), onChannel);
      } catch (e) {
        this.connections.delete(host);
        resolve(failure(`cannot start the command on ${host}: ${(e as Error).message}`));
      }
    });
  }

  /** Ends `host`'s connection and forgets it (a later command opens a new one). */
  private release(host: string, client: Client): void {
    this.connections.delete(host);
    this.clients.delete(host);
    client.end();
  }

  /** Kills a timed-out command on its host; returns '' or a note saying it may still run. */
  private killMarked(client: Client, runId: string): Promise<string> {
    const note = (why: string) => ` (it may still be running on the host: ${why})`;
    return new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve(note('the clean-up did not answer')), KILL_TIMEOUT_MS);
      try {
        client.exec(killMarkedScript(runId), (err, stream) => {
          if (err) {
            clearTimeout(timer);
            return resolve(note(err.message));
          }
          stream.resume();
          stream.stderr.resume();
          stream.on('close', () => {
            clearTimeout(timer);
            resolve('');
          });
          stream.end();
        });
      } catch (e) {
        clearTimeout(timer);
        resolve(note((e as Error).message));
      }
    });
  }

  /**
   * Closes every pooled connection: each gets an SSH disconnect and a FIN at once. The sockets
   * stop holding the process open, so a CLI exits without waiting a round trip per host.
   */
  async close(): Promise<void> {
    const pending = [...this.connections.values()];
    this.connections.clear();
    this.clients.clear();
    const clients = await Promise.all(pending.map((p) => p.catch(() => undefined)));
    for (const c of clients) c?.end();
    for (const sock of this.sockets) sock.unref();
  }
}
