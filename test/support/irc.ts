import { connect, type Socket } from 'node:net';

/** A small IRC client for tests: joins a channel and keeps every PRIVMSG said there. */
export interface IrcListener {
  /** `nick: text` of every message said in the channel since joining. */
  messages: string[];
  waitFor(predicate: (messages: string[]) => boolean, timeoutMs: number): Promise<string[]>;
  close(): Promise<void>;
}

export function joinChannel(o: {
  server: string;
  port: number;
  channel: string;
  nick: string;
}): Promise<IrcListener> {
  return new Promise((resolve, reject) => {
    const sock: Socket = connect({ host: o.server, port: o.port });
    const messages: string[] = [];
    let buffer = '';
    const timer = setTimeout(
      () => reject(new Error(`could not join ${o.channel} on ${o.server}:${o.port} within 30 s`)),
      30_000,
    );
    const send = (line: string) => sock.write(`${line}\r\n`);
    const listener: IrcListener = {
      messages,
      async waitFor(predicate, timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        while (!predicate(messages)) {
          if (Date.now() > deadline)
            throw new Error(
              `not seen in ${o.channel} within ${timeoutMs} ms; seen: ${JSON.stringify(messages)}`,
            );
          await new Promise((r) => setTimeout(r, 50));
        }
        return messages;
      },
      close: () =>
        new Promise<void>((done) => {
          sock.once('close', () => done());
          send('QUIT :bye');
          setTimeout(() => sock.destroy(), 500);
        }),
    };
    sock.on('connect', () => {
      send(`NICK ${o.nick}`);
      send(`USER ${o.nick} 0 * :test listener`);
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('data', (d: Buffer) => {
      buffer += d.toString('utf8');
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
        const line = buffer.slice(0, i).replace(/\r$/, '');
        buffer = buffer.slice(i + 1);
        const words = line.split(' ');
        if (words[0] === 'PING') send(`PONG ${words.slice(1).join(' ')}`);
        else if (words[1] === '001') send(`JOIN ${o.channel}`);
        else if (words[1] === '366') {
          clearTimeout(timer);
          resolve(listener);
        } else if (words[1] === 'PRIVMSG' && words[2] === o.channel) {
          const from = words[0]!.slice(1).split('!')[0];
          messages.push(`${from}: ${line.slice(line.indexOf(' :') + 2)}`);
        }
      }
    });
  });
}
