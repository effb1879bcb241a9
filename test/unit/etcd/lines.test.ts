import { describe, expect, test } from '@jest/globals';
import { PassThrough } from 'node:stream';
import { EagerLineReader, LineSplitter } from '../../../src/etcd/lines.js';

describe('LineSplitter', () => {
  test('lines are split on newlines, not on chunk boundaries', () => {
    const s = new LineSplitter();
    expect(s.push(Buffer.from('{"a":1}\n{"b"'))).toEqual(['{"a":1}']);
    expect(s.push(Buffer.from(':2}\n\n{"c":3}\n'))).toEqual(['{"b":2}', '{"c":3}']);
    expect(s.end()).toEqual([]);
  });

  test('a multi-byte character split across chunks is kept whole', () => {
    const s = new LineSplitter();
    const bytes = Buffer.from('é\n');
    expect(s.push(bytes.subarray(0, 1))).toEqual([]);
    expect(s.push(bytes.subarray(1))).toEqual(['é']);
  });

  test('a last line without newline is returned at the end', () => {
    const s = new LineSplitter();
    s.push(Buffer.from('x\ny'));
    expect(s.end()).toEqual(['y']);
  });
});

describe('EagerLineReader', () => {
  test('lines written before anyone reads are buffered, then handed out in order until the end', async () => {
    const stream = new PassThrough();
    const reader = new EagerLineReader(stream);
    stream.write('one\ntwo\n');
    stream.end('three\n');
    await new Promise((r) => setImmediate(r));
    expect(reader.buffered).toBe(3);
    expect([await reader.next(), await reader.next(), await reader.next(), await reader.next()]).toEqual([
      'one',
      'two',
      'three',
      undefined,
    ]);
  });

  test('a reader waiting for a line is woken by the next chunk', async () => {
    const stream = new PassThrough();
    const reader = new EagerLineReader(stream);
    const pending = reader.next();
    stream.write('late\n');
    expect(await pending).toBe('late');
    stream.destroy();
    expect(await reader.next()).toBeUndefined();
  });
});
