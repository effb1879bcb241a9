import { describe, expect, test } from '@jest/globals';
import { MirrorExit, MirrorUsageError } from '../../../src/mirror/errors.js';
import { DEFAULT_IGNORE_REGEX } from '../../../src/mirror/keys.js';
import { MirrorMetrics } from '../../../src/mirror/metrics.js';
import { MIRROR_USAGE, parseMirrorArgs } from '../../../src/mirror/options.js';

describe('etcdmirror arguments', () => {
  test('defaults: / to /, the lock keys ignored, the endpoint on 127.0.0.1:8000, 32 writes in flight', () => {
    const o = parseMirrorArgs(['http://a:2379', 'http://b:2379']);
    expect(o).toMatchObject({
      srcPrefix: '/',
      dstPrefix: '/',
      strip: false,
      reload: false,
      resyncOnGap: false,
      ignoreRegex: DEFAULT_IGNORE_REGEX,
      listen: { host: '127.0.0.1', port: 8000 },
      logLevel: 'info',
      concurrency: 32,
    });
  });

  test('every flag is read, and prefixes are normalised', () => {
    const o = parseMirrorArgs([
      '--reload',
      '--src-prefix',
      'conftool/',
      '--dst-prefix',
      '/replica',
      '--strip',
      '--src-ignore-keys-regex',
      '^/x',
      '--listen',
      '127.33.0.3:9000',
      '--resync-on-gap',
      '--password-file',
      '/p',
      '--ca-file',
      '/ca',
      '--log-level',
      'debug',
      'https://user@a:4001',
      'http://b:2379',
    ]);
    expect(o).toMatchObject({
      reload: true,
      srcPrefix: '/conftool',
      dstPrefix: '/replica',
      strip: true,
      ignoreRegex: '^/x',
      listen: { host: '127.33.0.3', port: 9000 },
      resyncOnGap: true,
      passwordFile: '/p',
      caFile: '/ca',
      logLevel: 'debug',
      srcUrl: 'https://user@a:4001',
    });
  });

  test('bad usage is refused with exit code 2', () => {
    for (const argv of [
      ['http://a'],
      ['ftp://a', 'http://b'],
      ['--log-level', 'loud', 'http://a', 'http://b'],
      ['--listen', 'nowhere', 'http://a', 'http://b'],
    ]) {
      let error: unknown;
      try {
        parseMirrorArgs(argv);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(MirrorUsageError);
      expect((error as MirrorUsageError).mirrorExit).toBe(MirrorExit.USAGE);
    }
  });

  test('--listen off turns the endpoint off', () => {
    expect(parseMirrorArgs(['--listen', 'off', 'http://a', 'http://b']).listen).toBeUndefined();
  });

  test('the help documents every exit code', () => {
    for (const code of ['0 ', '1 ', '2 ', '3 ', '4 ', '5 ', '99'])
      expect(MIRROR_USAGE).toContain(`\n  ${code}`);
  });
});

describe('metrics', () => {
  test('the Prometheus text has events by action, errors, lag and the last apply time', () => {
    const m = new MirrorMetrics();
    m.countApplied('set');
    m.countApplied('set');
    m.countApplied('delete');
    m.sourceIndex = 120;
    m.appliedIndex = 100;
    m.errors = 1;
    const text = m.render();
    expect(text).toContain('etcdmirror_events_applied_total{action="set"} 2');
    expect(text).toContain('etcdmirror_events_applied_total{action="delete"} 1');
    expect(text).toContain('etcdmirror_errors_total 1');
    expect(text).toContain('etcdmirror_lag_events 20');
    expect(text).toMatch(/etcdmirror_last_apply_timestamp_seconds \d+\.\d{3}/);
  });
});
