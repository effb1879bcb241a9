import { describe, expect, test } from '@jest/globals';
import {
  accessLogTime,
  describeUse,
  urlsWithout,
  withMirrorEndpoints,
} from '../../../src/actions/clients.js';
import type { GalleyConfig } from '../../../src/config/schema.js';

const config = {
  hosts: {
    'conf2004.codfw.wmnet': {
      name: 'conf2004.codfw.wmnet',
      address: '127.30.2.4',
      datacenter: 'codfw',
      roles: [],
      sshPort: 22,
    },
  },
} as unknown as GalleyConfig;

describe('what a reimage reads and rewrites', () => {
  test("an nginx access log line's time, with its offset", () => {
    const line =
      '127.30.5.2 - root [01/Dec/2026:23:10:27 +0100] "GET /v2/keys/conftool?wait=true HTTP/1.1" 200 90 "-" "-"';
    expect(accessLogTime(line)).toBe(Date.UTC(2026, 11, 1, 22, 10, 27));
    expect(accessLogTime('garbage')).toBeUndefined();
  });

  test("a mirror's member list without a host, by address or by name", () => {
    expect(urlsWithout(config, 'http://127.30.2.4:2379,http://127.30.2.5:2379', 'conf2004.codfw.wmnet')).toBe(
      'http://127.30.2.5:2379',
    );
    expect(
      urlsWithout(
        config,
        'https://conf2004.codfw.wmnet:4001,https://conf2005.codfw.wmnet:4001',
        'conf2004.codfw.wmnet',
      ),
    ).toBe('https://conf2005.codfw.wmnet:4001');
  });

  test("a mirror unit's source and destination lists are replaced, the rest of the line kept", () => {
    const unit =
      '[Service]\nExecStart=/usr/bin/node /x/etcdmirror.js --src-prefix / --listen 1.2.3.4:8000 http://a:2379,http://b:2379 http://c:2379\nX-LabLog=/l\n';
    expect(withMirrorEndpoints(unit, 'http://b:2379', 'http://c:2379,http://d:2379')).toBe(
      '[Service]\nExecStart=/usr/bin/node /x/etcdmirror.js --src-prefix / --listen 1.2.3.4:8000 http://b:2379 http://c:2379,http://d:2379\nX-LabLog=/l\n',
    );
  });

  test('who still uses a member is named from the inventory', () => {
    expect(
      describeUse({
        connections: [{ address: '127.30.5.4', name: 'lvs2011.codfw.wmnet' }],
        recent: [{ address: '127.30.5.9', count: 3, last: '2026-12-01T23:10:27.000Z' }],
      }),
    ).toBe(
      'connected: lvs2011.codfw.wmnet (127.30.5.4); recent requests: 127.30.5.9 ×3, last 2026-12-01T23:10:27.000Z',
    );
    expect(describeUse({ connections: [], recent: [] })).toBe('nobody');
  });
});
