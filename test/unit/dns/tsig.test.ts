import { createHmac } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import { referenceRequestMac } from './tsig-reference.js';
import {
  signRequest,
  splitTsig,
  tsigVariables,
  verifyResponse,
  type TsigKey,
} from '../../../src/dns/tsig.js';
import { buildUpdate } from '../../../src/dns/update.js';

const key: TsigKey = {
  name: 'galley-key.',
  algorithm: 'hmac-sha256',
  secret: Buffer.from('c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0zMmJ5dGVz', 'base64'),
};
const TIME = 1_763_780_000;

const request = buildUpdate(
  {
    zone: 'dyn.test',
    name: '_etcd._tcp.dyn.test',
    type: 'SRV',
    records: [{ ttl: 60, data: { priority: 0, weight: 1, port: 4001, target: 'conf1001.dyn.test' } }],
  },
  0x1234,
);

describe('TSIG signing (RFC 8945, HMAC-SHA256)', () => {
  test('the MAC is the HMAC of the message followed by the TSIG variables', () => {
    const signed = signRequest(request, key, TIME);
    expect(signed.mac.toString('hex')).toBe(
      referenceRequestMac(key.secret, 'galley-key', request, TIME).toString('hex'),
    );
    // Pinned value of this vector, so that a change of the encoding is noticed.
    expect(signed.mac.toString('hex')).toBe(PINNED_MAC);
  });

  test('the signed message is the original plus a TSIG record, with ARCOUNT one higher', () => {
    const { message } = signRequest(request, key, TIME);
    expect(message.subarray(12, request.length)).toEqual(request.subarray(12));
    expect(message.readUInt16BE(10)).toBe(request.readUInt16BE(10) + 1);
    const split = splitTsig(message);
    expect(split?.unsigned).toEqual(request);
    expect(split?.tsig).toMatchObject({
      keyName: 'galley-key',
      algorithm: 'hmac-sha256',
      timeSigned: TIME,
      fudge: 300,
      originalId: 0x1234,
      error: 0,
    });
  });

  test('the signature covers the time: signing at another time gives another MAC', () => {
    expect(signRequest(request, key, TIME + 1).mac).not.toEqual(signRequest(request, key, TIME).mac);
  });
});

describe('TSIG verification of answers', () => {
  const { mac: requestMac } = signRequest(request, key, TIME);
  const answer = Buffer.from(request);
  answer.writeUInt16BE(0xa800, 2); // QR, opcode UPDATE, NOERROR

  /** Signs an answer the way a server does: request MAC first (RFC 8945 §4.3.2). */
  function serverSign(message: Buffer, withKey: TsigKey): Buffer {
    const fields = {
      keyName: 'galley-key',
      algorithm: 'hmac-sha256',
      timeSigned: TIME,
      fudge: 300,
      error: 0,
      otherData: Buffer.alloc(0),
    };
    const prefix = Buffer.from([0, requestMac.length]);
    const mac = createHmac('sha256', withKey.secret)
      .update(prefix)
      .update(requestMac)
      .update(message)
      .update(tsigVariables(fields))
      .digest();
    // Reuse the request signer's record layout by signing, then swapping in the server's MAC.
    const signed = signRequest(message, withKey, TIME).message;
    const macOffset = signed.length - 6 - 32;
    mac.copy(signed, macOffset);
    return signed;
  }

  test('an answer signed with the same key over the request MAC is accepted', () => {
    expect(verifyResponse(serverSign(answer, key), key, requestMac, TIME)).toEqual({ ok: true });
  });

  test('an answer signed with another key is rejected', () => {
    const other = { ...key, secret: Buffer.alloc(32, 7) };
    expect(verifyResponse(serverSign(answer, other), key, requestMac, TIME)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/MAC/),
    });
  });

  test('an answer whose content was changed after signing is rejected', () => {
    const signed = serverSign(answer, key);
    signed[13] = signed[13]! ^ 0x20;
    expect(verifyResponse(signed, key, requestMac, TIME).ok).toBe(false);
  });

  test('an unsigned answer is rejected', () => {
    expect(verifyResponse(answer, key, requestMac, TIME)).toEqual({
      ok: false,
      reason: 'the answer is not signed',
    });
  });

  test('an answer signed outside the fudge is rejected', () => {
    expect(verifyResponse(serverSign(answer, key), key, requestMac, TIME + 301)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/fudge/),
    });
  });
});

const PINNED_MAC = 'd61e80a73f08b29f76baea27effe7d48882102a5e10188c66b33d8e2569f0ea0';
