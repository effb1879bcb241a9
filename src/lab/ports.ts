/**
 * Which of the lab's listeners are already taken, from one `ss` call.
 */
import { execa } from 'execa';

export interface Listener {
  address: string;
  port: number;
  proto: 'tcp' | 'udp';
}

/** Parses `ss -Hltnu` output into listeners (IPv4 only; `*` and 0.0.0.0 are the wildcard). */
export function parseSsListeners(text: string): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5) continue;
    const proto = cols[0] === 'tcp' ? 'tcp' : cols[0] === 'udp' ? 'udp' : undefined;
    const m = /^(\d+\.\d+\.\d+\.\d+|\*|0\.0\.0\.0)(?:%\S+)?:(\d+)$/.exec(cols[4]!);
    if (!proto || !m) continue;
    out.push({ proto, address: m[1] === '*' ? '0.0.0.0' : m[1]!, port: Number(m[2]) });
  }
  return out;
}

/** Current TCP and UDP listeners of the machine. */
export async function currentListeners(): Promise<Listener[]> {
  const { stdout } = await execa('ss', ['-Hltnu']);
  return parseSsListeners(stdout);
}

/** Those of `wanted` that an existing listener (same address, or the wildcard) already holds. */
export function takenListeners<T extends Listener>(wanted: T[], existing: Listener[]): T[] {
  const key = (l: Listener) => `${l.proto} ${l.address}:${l.port}`;
  const held = new Set(existing.map(key));
  return wanted.filter((w) => held.has(key(w)) || held.has(key({ ...w, address: '0.0.0.0' })));
}
