import { describe, expect, test } from '@jest/globals';
import { GalleyError } from '../../../src/core/errors.js';
import {
  EtcdAuthError,
  EtcdCompareFailedError,
  EtcdDirNotEmptyError,
  EtcdHttpError,
  EtcdIndexClearedError,
  EtcdKeyNotFoundError,
  EtcdNodeExistsError,
  EtcdNotADirError,
  EtcdNotAFileError,
  EtcdOtherError,
  EtcdProxyForbiddenError,
  EtcdReadOnlyError,
  errorFromResponse,
  type RequestContext,
} from '../../../src/etcd/errors.js';

const ctx: RequestContext = {
  endpoint: 'https://conf1001.eqiad.wmnet:4001',
  method: 'PUT',
  path: '/v2/keys/conftool/x',
  key: '/conftool/x',
};

describe('errorFromResponse', () => {
  test.each([
    [404, { errorCode: 100, message: 'Key not found', cause: '/conftool/x', index: 7 }, EtcdKeyNotFoundError],
    [412, { errorCode: 101, message: 'Compare failed', cause: '[a != b]', index: 7 }, EtcdCompareFailedError],
    [403, { errorCode: 102, message: 'Not a file', cause: '/conftool', index: 7 }, EtcdNotAFileError],
    [400, { errorCode: 104, message: 'Not a directory', cause: '/conftool/x', index: 7 }, EtcdNotADirError],
    [
      412,
      { errorCode: 105, message: 'Key already exists', cause: '/conftool/x', index: 7 },
      EtcdNodeExistsError,
    ],
    [403, { errorCode: 107, message: 'This cluster is in read-only mode' }, EtcdReadOnlyError],
    [
      403,
      { errorCode: 108, message: 'Directory not empty', cause: '/conftool', index: 7 },
      EtcdDirNotEmptyError,
    ],
    [
      400,
      {
        errorCode: 401,
        message: 'The event in requested index is outdated and cleared',
        cause: 'the requested history has been cleared [1008/3]',
        index: 2007,
      },
      EtcdIndexClearedError,
    ],
    [500, { errorCode: 300, message: 'Raft Internal Error' }, EtcdOtherError],
  ])('an HTTP %i body with errorCode %j becomes its own typed error', (status, body, type) => {
    const e = errorFromResponse(ctx, status, JSON.stringify(body));
    expect(e).toBeInstanceOf(type);
    expect(e).toBeInstanceOf(GalleyError);
    expect(e.message).toContain('/conftool');
    expect(e.suggestions.length + (type === EtcdOtherError ? 1 : 0)).toBeGreaterThan(0);
  });

  test('the errorCode, HTTP status and etcd index are kept on the error', () => {
    const e = errorFromResponse(
      ctx,
      412,
      '{"errorCode":101,"message":"Compare failed","cause":"[a != b]","index":42}',
    );
    expect(e).toMatchObject({
      errorCode: 101,
      httpStatus: 412,
      etcdIndex: 42,
      etcdCause: '[a != b]',
      key: '/conftool/x',
      endpoint: ctx.endpoint,
    });
    expect(e.message).toContain('[a != b]');
  });

  test('the X-Etcd-Index header stands in when the body has no index', () => {
    const e = errorFromResponse(ctx, 403, '{"errorCode":107,"message":"This cluster is in read-only mode"}', {
      headerIndex: 99,
    });
    expect(e).toMatchObject({ errorCode: 107, etcdIndex: 99 });
    expect(e.message).toBe(
      `write refused on key /conftool/x on ${ctx.endpoint}: the cluster is in read-only mode`,
    );
  });

  test('a proxy canned error with index 0 takes the X-Etcd-Index header instead', () => {
    const e = errorFromResponse(
      ctx,
      403,
      '{"errorCode":107,"message":"This cluster is in read-only mode","cause":"","index":0}',
      { headerIndex: 12 },
    );
    expect(e).toMatchObject({ errorCode: 107, etcdIndex: 12 });
  });

  test('an index-cleared error reads the oldest and requested index out of its cause', () => {
    const e = errorFromResponse(
      ctx,
      400,
      '{"errorCode":401,"message":"The event in requested index is outdated and cleared","cause":"the requested history has been cleared [1008/3]","index":2007}',
    );
    expect(e).toBeInstanceOf(EtcdIndexClearedError);
    expect(e).toMatchObject({ oldestIndex: 1008, requestedIndex: 3 });
    expect(e.message).toContain('[1008/3]');
    expect(e.suggestions.join(' ')).toMatch(/re-read/);
  });

  test('HTTP 401 is bad credentials, naming the user but never a password', () => {
    const e = errorFromResponse(
      ctx,
      401,
      '<html><head><title>401 Authorization Required</title></head></html>',
      { username: 'root' },
    );
    expect(e).toBeInstanceOf(EtcdAuthError);
    expect(e.message).toContain('"root"');
    expect(e.suggestions.join(' ')).toContain('etcd.credentials');
  });

  test('HTTP 401 without configured credentials says none are configured', () => {
    const e = errorFromResponse(ctx, 401, '');
    expect(e.message).toContain('no credentials are configured');
  });

  test('a 403 with an HTML body came from the proxy, not from etcd', () => {
    const e = errorFromResponse(
      ctx,
      403,
      '<html>\r\n<head><title>403 Forbidden</title></head>\r\n<center>nginx/1.22.1</center></html>',
    );
    expect(e).toBeInstanceOf(EtcdProxyForbiddenError);
    expect(e.message).toContain('from the proxy, not from etcd');
  });

  test('a 403 with etcd JSON came from etcd', () => {
    const e = errorFromResponse(ctx, 403, '{"message":"not current leader"}');
    expect(e).toBeInstanceOf(EtcdHttpError);
    expect(e).not.toBeInstanceOf(EtcdProxyForbiddenError);
    expect(e.message).toContain('not current leader');
  });

  test('a bare 500 keeps its status and a short excerpt of the body', () => {
    const e = errorFromResponse(
      { endpoint: 'http://a:2379', method: 'DELETE', path: '/v2/members/abc' },
      500,
      'x'.repeat(500),
    );
    expect(e).toBeInstanceOf(EtcdHttpError);
    expect((e as EtcdHttpError).httpStatus).toBe(500);
    expect(e.message.length).toBeLessThan(300);
    expect(e.message).toContain('DELETE /v2/members/abc on http://a:2379 failed: HTTP 500');
  });
});
