import { createHmac } from 'node:crypto';

/** Wire form of a name given as labels, written out by hand (no library code). */
function wireName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').toLowerCase().split('.');
  return Buffer.concat([
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])),
    Buffer.from([0]),
  ]);
}

/**
 * The MAC of a request per RFC 8945 §4.3.3, computed field by field independently of the
 * implementation: HMAC-SHA256 over the message, then key name, class ANY, TTL 0, algorithm
 * name, 48-bit time signed, fudge, error 0 and other length 0.
 */
export function referenceRequestMac(
  secret: Buffer,
  keyName: string,
  message: Buffer,
  timeSigned: number,
  fudge = 300,
): Buffer {
  const time = Buffer.alloc(6);
  time.writeUIntBE(timeSigned, 0, 6);
  const fudgeBytes = Buffer.alloc(2);
  fudgeBytes.writeUInt16BE(fudge);
  const variables = Buffer.concat([
    wireName(keyName),
    Buffer.from([0x00, 0xff]),
    Buffer.from([0, 0, 0, 0]),
    wireName('hmac-sha256'),
    time,
    fudgeBytes,
    Buffer.from([0, 0]),
    Buffer.from([0, 0]),
  ]);
  return createHmac('sha256', secret).update(message).update(variables).digest();
}
