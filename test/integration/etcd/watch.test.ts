import { describe, expect, test } from '@jest/globals';
import { EtcdClient, eventIndex, type EtcdEvent } from '../../../src/etcd/client.js';
import { EtcdIndexClearedError } from '../../../src/etcd/errors.js';
import { useLocalCluster } from './local-cluster.js';

const local = useLocalCluster(202, 1);

/** Collects `count` events from a stream watch, then stops it. */
async function collect(stream: AsyncGenerator<EtcdEvent>, count: number): Promise<EtcdEvent[]> {
  const out: EtcdEvent[] = [];
  for await (const ev of stream) {
    out.push(ev);
    if (out.length === count) break;
  }
  return out;
}

describe('etcd v2 watch against a real etcd', () => {
  test('a long-poll from a past index returns the first change at or after it', async () => {
    const a = await local.etcd.set('/w1/a', '1');
    await local.etcd.set('/w1/b', '2');
    const ev = await local.etcd.watch('/w1', { recursive: true, waitIndex: a.node.modifiedIndex });
    expect(ev).toMatchObject({ action: 'set', node: { key: '/w1/a', value: '1' } });
    const next = await local.etcd.watch('/w1', { recursive: true, waitIndex: a.node.modifiedIndex + 1 });
    expect(next.node.key).toBe('/w1/b');
  });

  test('a long-poll without index waits for the next change and reports the previous value', async () => {
    await local.etcd.set('/w2/k', 'old');
    const pending = local.etcd.watch('/w2', { recursive: true });
    await new Promise((r) => setTimeout(r, 100));
    await local.etcd.set('/w2/k', 'new');
    const ev = await pending;
    expect(ev).toMatchObject({
      action: 'set',
      node: { key: '/w2/k', value: 'new' },
      prevNode: { value: 'old' },
    });
  });

  test('an aborted long-poll rejects and sends nothing more', async () => {
    const ac = new AbortController();
    const pending = local.etcd.watch('/w-abort', { recursive: true, signal: ac.signal });
    ac.abort();
    await expect(pending).rejects.toThrow(/abort/i);
  });

  test('a stream watch yields live changes in order over one response', async () => {
    const stream = local.etcd.watchStream('/w3', { recursive: true });
    const got = collect(stream, 20);
    await new Promise((r) => setTimeout(r, 150));
    for (let i = 0; i < 20; i++) await local.etcd.set(`/w3/k${i % 4}`, String(i));
    const events = await got;
    expect(events.map((e) => e.node.value)).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    const indexes = events.map(eventIndex);
    expect([...indexes].sort((x, y) => x - y)).toEqual(indexes);
  });

  test('a stream watch from a past index catches up on history, then keeps streaming live changes', async () => {
    const first = await local.etcd.set('/w4/h0', 'h0');
    for (let i = 1; i < 5; i++) await local.etcd.set(`/w4/h${i}`, `h${i}`);
    const got = collect(
      local.etcd.watchStream('/w4', { recursive: true, waitIndex: first.node.modifiedIndex }),
      8,
    );
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 3; i++) await local.etcd.set(`/w4/live${i}`, `l${i}`);
    const events = await got;
    expect(events.map((e) => e.node.value)).toEqual(['h0', 'h1', 'h2', 'h3', 'h4', 'l0', 'l1', 'l2']);
  });

  test('a stream watch reports deletes and TTL expiries', async () => {
    await local.etcd.set('/w5/gone', 'x');
    const got = collect(local.etcd.watchStream('/w5', { recursive: true }), 2);
    await new Promise((r) => setTimeout(r, 150));
    await local.etcd.delete('/w5/gone');
    await local.etcd.set('/w5/ttl', 'y', { ttlSeconds: 1 });
    const events = await collect(
      local.etcd.watchStream('/w5/ttl', {
        waitIndex: (await local.etcd.get('/w5/ttl')).node.modifiedIndex + 1,
      }),
      1,
    );
    expect((await got).map((e) => e.action)).toEqual(['delete', 'set']);
    expect(events[0]?.action).toBe('expire');
  });

  test('aborting a stream watch ends the loop without an error', async () => {
    const ac = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const ev of local.etcd.watchStream('/w6', { recursive: true, signal: ac.signal })) {
        seen.push(ev.node.value ?? '');
        ac.abort();
      }
    })();
    await new Promise((r) => setTimeout(r, 150));
    await local.etcd.set('/w6/k', 'only');
    await expect(done).resolves.toBeUndefined();
    expect(seen).toEqual(['only']);
  });

  test('a watch from an index older than the 1000-event history fails with EtcdIndexClearedError and its cause', async () => {
    const start = await local.etcd.set('/cleared/start', 's');
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 1100; i++) {
      writes.push(local.etcd.set(`/cleared/k${i % 50}`, String(i)));
      if (writes.length === 32) await Promise.all(writes.splice(0));
    }
    await Promise.all(writes);
    const e = await local.etcd
      .watch('/cleared', { recursive: true, waitIndex: start.node.modifiedIndex })
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EtcdIndexClearedError);
    const cleared = e as EtcdIndexClearedError;
    expect(cleared.errorCode).toBe(401);
    expect(cleared.requestedIndex).toBe(start.node.modifiedIndex);
    expect(cleared.oldestIndex).toBeGreaterThan(start.node.modifiedIndex);
    expect(cleared.message).toContain(`[${cleared.oldestIndex}/${start.node.modifiedIndex}]`);
    await expect(
      collect(local.etcd.watchStream('/cleared', { recursive: true, waitIndex: 1 }), 1),
    ).rejects.toBeInstanceOf(EtcdIndexClearedError);
  });
});

/** A TCP relay to the etcd member whose current connections can be cut or frozen. */
async function startRelay(address: string) {
  const net = await import('node:net');
  const target = new URL(local.cluster.clientUrls[0]!);
  const pairs = new Set<{ inbound: import('node:net').Socket; outbound: import('node:net').Socket }>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(Number(target.port), target.hostname);
    inbound.pipe(outbound).pipe(inbound);
    const pair = { inbound, outbound };
    pairs.add(pair);
    for (const sock of [inbound, outbound]) {
      sock.on('error', () => undefined);
      sock.on('close', () => pairs.delete(pair));
    }
  });
  await new Promise<void>((r) => server.listen(0, address, r));
  const port = (server.address() as import('node:net').AddressInfo).port;
  return {
    url: `http://${address}:${port}`,
    /** Drops every open connection. */
    cut: () => {
      for (const p of pairs) {
        p.inbound.destroy();
        p.outbound.destroy();
      }
    },
    /** Open connections stay up but deliver nothing more from etcd (new ones work). */
    freeze: () => {
      for (const p of pairs) {
        p.outbound.unpipe(p.inbound);
        p.outbound.pause();
      }
    },
    close: async () => {
      for (const p of pairs) {
        p.inbound.destroy();
        p.outbound.destroy();
      }
      await new Promise((r) => server.close(r));
    },
  };
}

describe('stream watch across a broken connection', () => {
  test('when the connection drops, the stream reconnects from where it stopped and misses nothing', async () => {
    const relay = await startRelay('127.32.202.50');
    const viaRelay = new EtcdClient({ endpoints: [{ url: relay.url }], timeoutMs: 5000 });
    const values: string[] = [];
    const done = (async () => {
      for await (const ev of viaRelay.watchStream('/cut', { recursive: true })) {
        values.push(ev.node.value ?? '');
        if (values.length === 30) break;
      }
    })();
    await new Promise((r) => setTimeout(r, 150));
    for (let i = 0; i < 10; i++) await local.etcd.set(`/cut/k${i % 3}`, `v${i}`);
    while (values.length < 10) await new Promise((r) => setTimeout(r, 20));
    relay.cut();
    for (let i = 10; i < 30; i++) await local.etcd.set(`/cut/k${i % 3}`, `v${i}`);
    await done;
    expect(values).toEqual(Array.from({ length: 30 }, (_, i) => `v${i}`));
    viaRelay.close();
    await relay.close();
  });

  test('a stream that silently stops delivering is detected after the stall check and resumed without loss', async () => {
    const relay = await startRelay('127.32.202.51');
    const viaRelay = new EtcdClient({ endpoints: [{ url: relay.url }], timeoutMs: 5000 });
    const values: string[] = [];
    const done = (async () => {
      for await (const ev of viaRelay.watchStream('/stall', { recursive: true, stallCheckMs: 500 })) {
        values.push(ev.node.value ?? '');
        if (values.length === 20) break;
      }
    })();
    await new Promise((r) => setTimeout(r, 150));
    for (let i = 0; i < 5; i++) await local.etcd.set(`/stall/k${i % 2}`, `v${i}`);
    while (values.length < 5) await new Promise((r) => setTimeout(r, 20));
    relay.freeze();
    for (let i = 5; i < 20; i++) await local.etcd.set(`/stall/k${i % 2}`, `v${i}`);
    await done;
    expect(values).toEqual(Array.from({ length: 20 }, (_, i) => `v${i}`));
    viaRelay.close();
    await relay.close();
  });

  test('with the stall check off, a silent stream stays silent (what the check is for)', async () => {
    const relay = await startRelay('127.32.202.52');
    const viaRelay = new EtcdClient({ endpoints: [{ url: relay.url }], timeoutMs: 5000 });
    const ac = new AbortController();
    const values: string[] = [];
    const done = (async () => {
      for await (const ev of viaRelay.watchStream('/silent', {
        recursive: true,
        stallCheckMs: 0,
        signal: ac.signal,
      }))
        values.push(ev.node.value ?? '');
    })();
    await new Promise((r) => setTimeout(r, 150));
    await local.etcd.set('/silent/k', 'before');
    while (values.length < 1) await new Promise((r) => setTimeout(r, 20));
    relay.freeze();
    await local.etcd.set('/silent/k', 'after');
    await new Promise((r) => setTimeout(r, 1500));
    expect(values).toEqual(['before']);
    ac.abort();
    await done;
    viaRelay.close();
    await relay.close();
  });
});
