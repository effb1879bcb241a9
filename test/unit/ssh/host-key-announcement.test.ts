import { Duplex } from 'node:stream';
import { describe, expect, test } from '@jest/globals';
import ssh2 from 'ssh2';
import type { Client } from 'ssh2';
import { answerHostKeyAnnouncement, HOST_KEYS_ANNOUNCEMENT } from '../../../src/ssh/host-key-announcement.js';

/** A socket that swallows what the client writes and never answers. */
function mute(): Duplex {
  return new Duplex({ read() {}, write: (_chunk, _enc, done) => done() });
}

/** The parts of ssh2's protocol object the answer uses, recording what it does. */
function fakeProtocol(kexInProgress = false) {
  const sent: Buffer[] = [];
  const delegated: string[] = [];
  const replies: string[] = [];
  const proto = {
    _handlers: {
      GLOBAL_REQUEST: (_p: unknown, name: string) => {
        delegated.push(name);
      },
    } as Record<string, (p: unknown, name: string, wantReply: boolean, data: unknown) => void>,
    _packetRW: {
      write: {
        allocStart: 5,
        alloc: (size: number) => Buffer.alloc(5 + size),
        finalize: (packet: Buffer) => packet,
      },
    },
    _cipher: { encrypt: (packet: Buffer) => sent.push(packet) },
    _kexinit: kexInProgress ? {} : undefined,
    requestSuccess: () => replies.push('success'),
  };
  return { client: { _protocol: proto } as unknown as Client, proto, sent, delegated, replies };
}

describe('answering the host key announcement', () => {
  test("ssh2's internals are the ones the answer is written for (an ssh2 upgrade that changes them fails here)", () => {
    const client = new ssh2.Client();
    client.on('error', () => undefined);
    client.connect({ sock: mute() as never, username: 'root', readyTimeout: 0 });
    try {
      expect(answerHostKeyAnnouncement(client)).toBe(true);
    } finally {
      client.destroy();
    }
  });

  test('the announcement is answered with one SSH_MSG_IGNORE and not handed to ssh2 (no proof request)', () => {
    const f = fakeProtocol();
    expect(answerHostKeyAnnouncement(f.client)).toBe(true);
    f.proto._handlers.GLOBAL_REQUEST!(undefined, HOST_KEYS_ANNOUNCEMENT, false, []);
    expect(f.delegated).toEqual([]);
    expect(f.sent.map((p) => [...p.subarray(5)])).toEqual([[2, 0, 0, 0, 0]]);
    expect(f.replies).toEqual([]);
  });

  test('an announcement that wants a reply gets REQUEST_SUCCESS as well', () => {
    const f = fakeProtocol();
    answerHostKeyAnnouncement(f.client);
    f.proto._handlers.GLOBAL_REQUEST!(undefined, HOST_KEYS_ANNOUNCEMENT, true, []);
    expect(f.replies).toEqual(['success']);
    expect(f.sent).toHaveLength(1);
  });

  test('other global requests still go to ssh2', () => {
    const f = fakeProtocol();
    answerHostKeyAnnouncement(f.client);
    f.proto._handlers.GLOBAL_REQUEST!(undefined, 'keepalive@openssh.com', true, undefined);
    expect(f.delegated).toEqual(['keepalive@openssh.com']);
    expect(f.sent).toEqual([]);
  });

  test('during a key exchange nothing is sent (the exchange carries the ACK; a packet now would break it)', () => {
    const f = fakeProtocol(true);
    answerHostKeyAnnouncement(f.client);
    f.proto._handlers.GLOBAL_REQUEST!(undefined, HOST_KEYS_ANNOUNCEMENT, false, []);
    expect(f.sent).toEqual([]);
    expect(f.delegated).toEqual([]);
  });

  test('a client without the expected internals is left as it is', () => {
    expect(answerHostKeyAnnouncement(new ssh2.Client())).toBe(false);
    expect(answerHostKeyAnnouncement({ _protocol: { _handlers: {} } } as unknown as Client)).toBe(false);
  });
});
