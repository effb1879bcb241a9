import { describe, expect, test } from '@jest/globals';
import { initialCluster, withEnvironment } from '../../../src/actions/membership.js';

describe('joining a member', () => {
  test('ETCD_INITIAL_CLUSTER lists every current member and the joining one, once, sorted', () => {
    const members = [
      { name: 'conf2006.codfw.wmnet', peerURLs: ['http://10.0.0.6:2380'] },
      { name: 'conf2004.codfw.wmnet', peerURLs: ['http://10.0.0.4:2380'] },
      { name: '', peerURLs: ['http://10.0.0.5:2380'] }, // added, not started yet: the joining host itself
    ];
    expect(initialCluster(members, 'conf2005.codfw.wmnet', 'http://10.0.0.5:2380')).toBe(
      'conf2004.codfw.wmnet=http://10.0.0.4:2380,conf2005.codfw.wmnet=http://10.0.0.5:2380,conf2006.codfw.wmnet=http://10.0.0.6:2380',
    );
  });

  test('an environment file gets its variables replaced in place, or appended, other lines untouched', () => {
    const before = '# etcd\nETCD_NAME="a"\nETCD_INITIAL_CLUSTER_STATE="new"\n';
    expect(
      withEnvironment(before, {
        ETCD_INITIAL_CLUSTER_STATE: 'existing',
        ETCD_INITIAL_CLUSTER: 'a=http://x:2380',
      }),
    ).toBe(
      '# etcd\nETCD_NAME="a"\nETCD_INITIAL_CLUSTER_STATE="existing"\nETCD_INITIAL_CLUSTER="a=http://x:2380"\n',
    );
  });
});
