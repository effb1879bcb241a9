import { createHmac, timingSafeEqual } from 'node:crypto';
import { encodeName, normalizeName, recordOffsets, rcodeName, skipName, typeCode } from './wire.js';

/** A TSIG key (RFC 8945): its name and its secret, decoded from base64. Only HMAC-SHA256 is supported. */
export interface TsigKey {
  name: string;
  algorithm: 'hmac-sha256';
  secret: Buffer;
}

/** How far apart the signer's and verifier's clocks may be, in seconds (the RFC's recommended 300). */
export const DEFAULT_FUDGE_SECONDS = 300;

const CLASS_ANY = 255;

/** The fields of a TSIG record that are not its name. */
export interface TsigFields {
  keyName: string;
  algorithm: string;
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  otherData: Buffer;
}

function uint48(value: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntBE(value, 0, 6);
  return b;
}

function uint16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value);
  return b;
}

/** The "TSIG variables" of RFC 8945 §4.3.3 that the MAC covers after the message. */
export function tsigVariables(f: Omit<TsigFields, 'mac' | 'originalId'>): Buffer {
  return Buffer.concat([
    encodeName(f.keyName),
    uint16(CLASS_ANY),
    Buffer.alloc(4), // TTL 0
    encodeName(f.algorithm),
    uint48(f.timeSigned),
    uint16(f.fudge),
    uint16(f.error),
    uint16(f.otherData.length),
    f.otherData,
  ]);
}

function hmac(key: TsigKey, ...parts: Buffer[]): Buffer {
  const h = createHmac('sha256', key.secret);
  for (const p of parts) h.update(p);
  return h.digest();
}

function encodeTsigRr(f: TsigFields): Buffer {
  const rdata = Buffer.concat([
    encodeName(f.algorithm),
    uint48(f.timeSigned),
    uint16(f.fudge),
    uint16(f.mac.length),
    f.mac,
    uint16(f.originalId),
    uint16(f.error),
    uint16(f.otherData.length),
    f.otherData,
  ]);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(typeCode('TSIG'), 0);
  fixed.writeUInt16BE(CLASS_ANY, 2);
  fixed.writeUInt32BE(0, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([encodeName(f.keyName), fixed, rdata]);
}

/**
 * Signs a request (RFC 8945 §4.3): the MAC covers the message as it is, then the TSIG
 * variables; the TSIG record is appended to the additional section. Returns the signed
 * message and the MAC (needed to verify the answer).
 */
export function signRequest(
  message: Buffer,
  key: TsigKey,
  timeSigned: number = Math.floor(Date.now() / 1000),
  fudge: number = DEFAULT_FUDGE_SECONDS,
): { message: Buffer; mac: Buffer } {
  const fields = {
    keyName: normalizeName(key.name),
    algorithm: key.algorithm,
    timeSigned,
    fudge,
    error: 0,
    otherData: Buffer.alloc(0),
  };
  const mac = hmac(key, message, tsigVariables(fields));
  const signed = Buffer.concat([
    message,
    encodeTsigRr({ ...fields, mac, originalId: message.readUInt16BE(0) }),
  ]);
  signed.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { message: signed, mac };
}

/** Splits a message into its part before the TSIG record (ARCOUNT decreased) and the TSIG fields, if it ends with one. */
export function splitTsig(message: Buffer): { unsigned: Buffer; tsig: TsigFields } | undefined {
  const offsets = recordOffsets(message);
  const start = offsets[offsets.length - 1];
  if (start === undefined || message.readUInt16BE(10) === 0) return undefined;
  const nameEnd = skipName(message, start);
  if (message.readUInt16BE(nameEnd) !== typeCode('TSIG')) return undefined;
  const keyName = readUncompressedName(message, start);
  let o = nameEnd + 10;
  const algorithm = readUncompressedName(message, o);
  o = skipName(message, o);
  const timeSigned = message.readUIntBE(o, 6);
  const fudge = message.readUInt16BE(o + 6);
  const macSize = message.readUInt16BE(o + 8);
  const mac = Buffer.from(message.subarray(o + 10, o + 10 + macSize));
  o += 10 + macSize;
  const originalId = message.readUInt16BE(o);
  const error = message.readUInt16BE(o + 2);
  const otherLen = message.readUInt16BE(o + 4);
  const otherData = Buffer.from(message.subarray(o + 6, o + 6 + otherLen));
  const unsigned = Buffer.from(message.subarray(0, start));
  unsigned.writeUInt16BE(message.readUInt16BE(10) - 1, 10);
  unsigned.writeUInt16BE(originalId, 0);
  return { unsigned, tsig: { keyName, algorithm, timeSigned, fudge, mac, originalId, error, otherData } };
}

function readUncompressedName(buf: Buffer, offset: number): string {
  const labels: string[] = [];
  let o = offset;
  for (;;) {
    const len = buf[o]!;
    if (len === 0) break;
    if ((len & 0xc0) === 0xc0) {
      // TSIG names are sent uncompressed (RFC 8945 §4.2); follow a pointer anyway.
      return [...labels, readUncompressedName(buf, buf.readUInt16BE(o) & 0x3fff)].filter(Boolean).join('.');
    }
    labels.push(buf.toString('utf8', o + 1, o + 1 + len));
    o += len + 1;
  }
  return normalizeName(labels.join('.'));
}

/** What checking the TSIG of an answer found. */
export type TsigVerdict =
  | { ok: true }
  | {
      ok: false;
      reason: string;
      /** TSIG error code of the answer (BADSIG, BADKEY, BADTIME), if it has one. */ tsigError?: string;
    };

/**
 * Checks the signature of an answer to a request signed with `requestMac` (RFC 8945 §4.3.2,
 * §5.3): the MAC covers the request MAC, the answer without its TSIG record, and the TSIG
 * variables; the time must be within the fudge of `now`.
 */
export function verifyResponse(
  answer: Buffer,
  key: TsigKey,
  requestMac: Buffer,
  now: number = Math.floor(Date.now() / 1000),
): TsigVerdict {
  let split: ReturnType<typeof splitTsig>;
  try {
    split = splitTsig(answer);
  } catch (e) {
    return { ok: false, reason: `the answer is malformed (${(e as Error).message})` };
  }
  if (!split) return { ok: false, reason: 'the answer is not signed' };
  const { unsigned, tsig } = split;
  if (tsig.error !== 0)
    return {
      ok: false,
      reason: `the server reports TSIG error ${rcodeName(tsig.error)}`,
      tsigError: rcodeName(tsig.error),
    };
  if (tsig.keyName !== normalizeName(key.name))
    return { ok: false, reason: `the answer is signed with key ${tsig.keyName}, not ${key.name}` };
  if (normalizeName(tsig.algorithm) !== key.algorithm)
    return { ok: false, reason: `the answer is signed with ${tsig.algorithm}` };
  const expected = hmac(key, uint16(requestMac.length), requestMac, unsigned, tsigVariables(tsig));
  if (tsig.mac.length !== expected.length || !timingSafeEqual(tsig.mac, expected)) {
    return {
      ok: false,
      reason: 'the MAC of the answer does not match (forged or corrupted answer, or a different key)',
    };
  }
  if (Math.abs(now - tsig.timeSigned) > tsig.fudge)
    return {
      ok: false,
      reason: `the answer was signed at ${tsig.timeSigned}, outside the fudge of ${tsig.fudge} s`,
    };
  return { ok: true };
}
