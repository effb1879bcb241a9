/**
 * The places a run is announced: a JSON webhook (POST), syslog (a local socket, through
 * util-linux's `logger`: Node cannot open a unix datagram socket), and an IRC channel. Each
 * send is bounded by the sink's timeout and abandoned when its signal fires.
 */
import { connect } from 'node:net';
import { execa } from 'execa';
import type { AuditRecord } from '../core/audit.js';
import { redact } from '../core/secrets.js';
import { salLine, webhookPayload } from './format.js';

/** One announcement destination. */
export interface AnnounceSink {
  /** For messages: "webhook http://…", "irc 127.0.0.1:6667 #sal". */
  readonly name: string;
  readonly timeoutMs: number;
  /** Sends a run's START or END. */
  announce(r: AuditRecord, signal: AbortSignal): Promise<void>;
  /** Sends a free-form notice ("waiting for input"). */
  notify(text: string, signal: AbortSignal): Promise<void>;
}

/** POSTs each announcement as JSON; anything but a 2xx answer is a failure. */
export function webhookSink(o: { url: string; timeoutMs: number; fetchImpl?: typeof fetch }): AnnounceSink {
  const post = async (body: unknown, signal: AbortSignal) => {
    const res = await (o.fetchImpl ?? fetch)(o.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    });
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`answered ${res.status} ${res.statusText}`);
  };
  return {
    name: `webhook ${redact(o.url)}`,
    timeoutMs: o.timeoutMs,
    announce: (r, signal) => post(webhookPayload(r), signal),
    notify: (text, signal) =>
      post({ event: 'WAITING', time: new Date().toISOString(), message: redact(text) }, signal),
  };
}

/** Writes to a local syslog socket (`/dev/log` by default) with `logger`, tag and facility from the config. */
export function syslogSink(o: {
  socket: string;
  tag: string;
  facility: string;
  timeoutMs?: number;
}): AnnounceSink {
  const send = async (text: string, signal: AbortSignal) => {
    const r = await execa(
      'logger',
      ['--socket-errors=on', '-u', o.socket, '-t', o.tag, '-p', `${o.facility}.notice`, '--', redact(text)],
      {
        reject: false,
        cancelSignal: signal,
        stdin: 'ignore',
      },
    );
    if (r.isCanceled) throw new Error('cancelled');
    if (r.exitCode !== 0)
      throw new Error(`logger exited ${r.exitCode}: ${`${r.stderr}`.trim() || 'no message'}`);
  };
  return {
    name: `syslog ${o.socket}`,
    timeoutMs: o.timeoutMs ?? 2000,
    // The SAL text without `!log`: syslog has its own user and host fields.
    announce: (r, signal) => send(salLine(r).replace(/^!log /, ''), signal),
    notify: send,
  };
}

/**
 * Says one line in an IRC channel: connects, registers (NICK/USER, another nick if it is
 * taken), joins, PRIVMSGs, and quits. One connection per message: a run may last hours and
 * must not keep a connection that needs PONGs.
 */
export function ircSink(o: {
  server: string;
  port: number;
  channel: string;
  nick: string;
  timeoutMs: number;
}): AnnounceSink {
  const say = (text: string, signal: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      const sock = connect({ host: o.server, port: o.port });
      sock.setNoDelay(true);
      let buffer = '';
      let nick = o.nick;
      let tries = 0;
      let sent = false;
      let done = false;
      const finish = (e?: Error) => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        if (e) sock.destroy();
        else sock.end();
        if (e) reject(e);
        else resolve();
      };
      const onAbort = () => finish(new Error('cancelled'));
      signal.addEventListener('abort', onAbort, { once: true });
      const send = (line: string) => sock.write(`${line}\r\n`);
      sock.on('connect', () => {
        send(`NICK ${nick}`);
        send(`USER ${o.nick} 0 * :Galley announcements`);
      });
      sock.on('data', (d: Buffer) => {
        buffer += d.toString('utf8');
        for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
          const line = buffer.slice(0, i).replace(/\r$/, '');
          buffer = buffer.slice(i + 1);
          const words = line.split(' ');
          const cmd = (line.startsWith(':') ? words[1] : words[0]) ?? '';
          if (cmd === 'PING') send(`PONG ${words.slice(1).join(' ')}`);
          else if (cmd === '001') send(`JOIN ${o.channel}`);
          else if (cmd === '433' || cmd === '436') {
            // The nick is taken (another run announcing at the same moment): take another.
            if (++tries > 5) return finish(new Error(`nick ${o.nick} and its variants are taken`));
            nick = `${o.nick.slice(0, 5)}${Math.floor(Math.random() * 10_000)}`; // RFC 2812 nicks: at most 9 characters
            send(`NICK ${nick}`);
          } else if (cmd === '366' && !sent) {
            // End of NAMES: we are in the channel.
            sent = true;
            send(`PRIVMSG ${o.channel} :${text}`);
            send('QUIT :announced');
          } else if (cmd === 'ERROR') return sent ? finish() : finish(new Error(`the server said: ${line}`));
          else if (/^[45]\d\d$/.test(cmd) && cmd !== '422')
            return finish(new Error(`the server refused: ${line}`));
        }
      });
      sock.on('error', (e) => finish(e));
      sock.on('close', () =>
        sent ? finish() : finish(new Error('the server closed the connection before the message was sent')),
      );
    });
  return {
    name: `irc ${o.server}:${o.port} ${o.channel}`,
    timeoutMs: o.timeoutMs,
    announce: (r, signal) => say(salLine(r), signal),
    notify: (text, signal) => say(redact(text), signal),
  };
}
