import { Duplex } from 'node:stream';
import { describe, expect, test } from '@jest/globals';
import ssh2 from 'ssh2';
import type { Client } from 'ssh2';
import { createPublicKey, verify } from 'node:crypto';
import {
  answerHostKeyAnnouncement,
  HOST_KEYS_ANNOUNCEMENT,
  signWithoutQuery,
} from '../../../src/ssh/handshake-shortcuts.js';
import { parsePrivateKey } from '../../../src/ssh/identity.js';

/** A socket that swallows what the client writes and never answers. */
function ed25519Key() {
  for (let attempt = 0; attempt < 20; attempt++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519');
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error))
      return parsePrivateKey(pair.private, 'test key');
  }
  throw new Error('ssh2 generated no ed25519 key it can parse in 20 attempts');
}

function mute(): Duplex {
  return new Duplex({ read() {}, write: (_chunk, _enc, done) => done() });
}

const SIGNED_DATA = Buffer.from('session id and request');

/** The parts of ssh2's protocol object the answer uses, recording what it does. */
function fakeProtocol(kexInProgress = false) {
  const sent: Buffer[] = [];
  const delegated: string[] = [];
  const replies: string[] = [];
  /** authPK calls: the key offered, and the signed request's signature (undefined: a query). */
  const auths: { key: unknown; keyAlgo?: string; signed?: Buffer; query: boolean }[] = [];
  const proto = {
    authPK: (
      _user: string,
      key: unknown,
      keyAlgo?: string,
      sign?: (data: Buffer, done: (s: Buffer) => void) => void,
    ) => {
      const call: (typeof auths)[number] = { key, keyAlgo, query: !sign };
      auths.push(call);
      sign?.(SIGNED_DATA, (signature) => (call.signed = signature));
    },
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
  const errors: Error[] = [];
  const client = { _protocol: proto, emit: (event: string, e: Error) => event === 'error' && errors.push(e) };
  return { client: client as unknown as Client, proto, sent, delegated, replies, auths, errors };
}

test("ssh2's internals are the ones the shortcuts are written for (an ssh2 upgrade that changes them fails here)", () => {
  const client = new ssh2.Client();
  client.on('error', () => undefined);
  client.connect({ sock: mute() as never, username: 'root', readyTimeout: 0 });
  try {
    expect(answerHostKeyAnnouncement(client)).toBe(true);
    expect(signWithoutQuery(client, ed25519Key())).toBe(true);
  } finally {
    client.destroy();
  }
});

describe('answering the host key announcement', () => {
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
    expect(signWithoutQuery(new ssh2.Client(), ed25519Key())).toBe(false);
  });
});

describe('signing without the query', () => {
  test('the query for our key becomes the signed request, with a signature of the key that verifies', () => {
    const f = fakeProtocol();
    const key = ed25519Key();
    expect(signWithoutQuery(f.client, key)).toBe(true);
    f.proto.authPK('root', key, 'ssh-ed25519');
    expect(f.auths).toHaveLength(1);
    expect(f.auths[0]!.query).toBe(false);
    const publicKey = createPublicKey(key.getPublicPEM());
    expect(verify(null, SIGNED_DATA, publicKey, f.auths[0]!.signed!)).toBe(true);
  });

  test('an RSA request signs with the hash its algorithm names', () => {
    const f = fakeProtocol();
    const pair = ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 });
    const key = parsePrivateKey(pair.private, 'rsa test key');
    signWithoutQuery(f.client, key);
    f.proto.authPK('root', key, 'rsa-sha2-512');
    const publicKey = createPublicKey(key.getPublicPEM());
    expect(verify('sha512', SIGNED_DATA, publicKey, f.auths[0]!.signed!)).toBe(true);
    expect(verify('sha256', SIGNED_DATA, publicKey, f.auths[0]!.signed!)).toBe(false);
  });

  test('another key, or a request already signed, goes to ssh2 unchanged', () => {
    const f = fakeProtocol();
    signWithoutQuery(f.client, ed25519Key());
    const other = ed25519Key();
    f.proto.authPK('root', other, 'ssh-ed25519');
    expect(f.auths.map((a) => [a.key === other, a.query])).toEqual([[true, true]]);
  });

  test('a signature that fails is an error of the connection, and nothing is sent', () => {
    const f = fakeProtocol();
    const key = ed25519Key();
    key.sign = (() => new Error('the key cannot sign')) as unknown as typeof key.sign;
    signWithoutQuery(f.client, key);
    f.proto.authPK('root', key, 'ssh-ed25519');
    expect(f.auths[0]!.signed).toBeUndefined();
    expect(f.errors.map((e) => e.message)).toEqual(['the key cannot sign']);
  });
});
