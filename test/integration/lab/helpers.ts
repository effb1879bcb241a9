/**
 * Small clients the lab's integration tests use to reach the real components: HTTPS with the
 * lab CA, the system ssh with the lab's key, DNS over UDP with dns-packet.
 */
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import * as dnsPacket from 'dns-packet';
import { execa } from 'execa';
import { labStatus, type LabStatusReport } from '../../../src/lab/index.js';
import { findLabHost, sshArgs } from '../../../src/lab/ssh.js';

export function testLab(): LabStatusReport {
  const dir = process.env.GALLEY_TEST_LAB_DIR;
  if (!dir) throw new Error('GALLEY_TEST_LAB_DIR is not set: run through the integration global setup');
  return labStatus({ dir });
}

export function labPassword(lab: LabStatusReport): string {
  return readFileSync(lab.credentials.passwordFile, 'utf8').trim();
}

export interface HttpResult {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTPS request trusting only the lab CA. */
export function httpsRequest(
  lab: LabStatusReport,
  url: string,
  o: { method?: string; auth?: boolean; form?: Record<string, string>; timeoutMs?: number } = {},
): Promise<HttpResult> {
  const body = o.form ? new URLSearchParams(o.form).toString() : undefined;
  const headers: Record<string, string> = {};
  if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
  if (o.auth)
    headers.authorization = `Basic ${Buffer.from(`${lab.credentials.username}:${labPassword(lab)}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: o.method ?? 'GET',
        headers,
        ca: readFileSync(lab.credentials.caFile),
        timeout: o.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            headers: res.headers,
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

/** Runs a command on a lab host with the system ssh; resolves with stdout, stderr and the exit code. */
export async function ssh(
  lab: LabStatusReport,
  host: string,
  command: string,
  input?: string,
): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const r = await execa('ssh', ['-o', 'BatchMode=yes', ...sshArgs(lab, findLabHost(lab, host), [command])], {
    reject: false,
    timeout: 60_000,
    input: input ?? '',
  });
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

/** One DNS question over UDP to one server. */
export function dnsQuery(
  address: string,
  port: number,
  name: string,
  type: 'A' | 'SRV' | 'SOA',
): Promise<dnsPacket.Packet> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no DNS answer from ${address}:${port} for ${name} ${type}`));
    }, 3000);
    socket.on('message', (msg) => {
      clearTimeout(timer);
      socket.close();
      resolve(dnsPacket.decode(msg));
    });
    socket.send(
      dnsPacket.encode({
        type: 'query',
        id: Math.floor(Math.random() * 65535),
        flags: 0,
        questions: [{ type, name, class: 'IN' }],
      }),
      port,
      address,
    );
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
