import { describe, expect, test } from '@jest/globals';
import { parseSsListeners, takenListeners } from '../../../src/lab/ports.js';

const ss = `udp UNCONN 0      0      127.31.0.3:53   0.0.0.0:*
tcp LISTEN 0      128       0.0.0.0:2024 0.0.0.0:*
tcp LISTEN 0      4096   127.22.1.7:2379   0.0.0.0:*
tcp LISTEN 0      128        [::1]:631 [::]:*
tcp LISTEN 0      128            *:8080 *:*`;

describe('port check of the lab', () => {
  test('ss output is read as IPv4 TCP and UDP listeners', () => {
    expect(parseSsListeners(ss)).toEqual([
      { proto: 'udp', address: '127.31.0.3', port: 53 },
      { proto: 'tcp', address: '0.0.0.0', port: 2024 },
      { proto: 'tcp', address: '127.22.1.7', port: 2379 },
      { proto: 'tcp', address: '0.0.0.0', port: 8080 },
    ]);
  });

  test('a wanted port is taken when its address or the wildcard holds it, per protocol', () => {
    const existing = parseSsListeners(ss);
    const wanted = [
      { proto: 'tcp' as const, address: '127.22.1.7', port: 2379 },
      { proto: 'tcp' as const, address: '127.22.1.8', port: 2379 },
      { proto: 'tcp' as const, address: '127.22.1.8', port: 2024 },
      { proto: 'tcp' as const, address: '127.31.0.3', port: 53 },
    ];
    expect(takenListeners(wanted, existing)).toEqual([wanted[0], wanted[2]]);
  });
});
