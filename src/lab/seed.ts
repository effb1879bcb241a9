/**
 * The lab's initial data: conftool state and spicerack lock state on the master, a copy on
 * the replica with the replication index etcdmirror starts from.
 */

export interface SeedKey {
  key: string;
  value: string;
}

const POOLS: Record<string, Record<string, string[]>> = {
  appserver: { apache2: ['mw1', 'mw2', 'mw3'], nginx: ['mw1', 'mw2', 'mw3'] },
  api_appserver: { apache2: ['mwapi1', 'mwapi2'], nginx: ['mwapi1', 'mwapi2'] },
  cache_text: { 'ats-be': ['cp1', 'cp2'], varnish: ['cp1', 'cp2'] },
  dnsbox: { recdns: ['dns1', 'dns2'] },
};

function hostName(prefix: string, dc: string, n: number): string {
  const base = dc === 'eqiad' ? 1400 : 2400;
  return `${prefix.replace(/\d+$/, '')}${base + Number(prefix.match(/\d+$/)?.[0] ?? 0) + n}.${dc}.wmnet`;
}

/** Conftool pool state (`/conftool/v1/pools/<dc>/<cluster>/<service>/<host>`) and spicerack locks. */
export function seedKeys(datacenters: string[]): SeedKey[] {
  const keys: SeedKey[] = [];
  for (const dc of datacenters) {
    for (const [cluster, services] of Object.entries(POOLS)) {
      for (const [service, prefixes] of Object.entries(services)) {
        prefixes.forEach((p, i) => {
          keys.push({
            key: `/conftool/v1/pools/${dc}/${cluster}/${service}/${hostName(p, dc, i)}`,
            value: '{"pooled":"yes","weight":10}',
          });
        });
      }
    }
  }
  const created = '2024-03-19 10:00:00.000000';
  keys.push({
    key: '/spicerack/locks/cookbooks/sre.hosts.reimage',
    value: JSON.stringify({ concurrency: 20, created, locks: {} }),
  });
  keys.push({
    key: '/spicerack/locks/cookbooks/sre.switchdc.services',
    value: JSON.stringify({ concurrency: 1, created, locks: {} }),
  });
  keys.push({
    key: '/spicerack/locks/etcd/conftool',
    value: JSON.stringify({ concurrency: 1, created, locks: {} }),
  });
  return keys;
}

/** The key where the replica records the source index it has applied, for a destination prefix. */
export function replicationIndexKey(dstPrefix: string): string {
  return dstPrefix === '/' ? '/__replication/__ROOT__' : `/__replication${dstPrefix.replace(/\/$/, '')}`;
}

async function put(clientUrl: string, key: string, value: string): Promise<number> {
  const res = await fetch(`${clientUrl}/v2/keys${key}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ value }).toString(),
  });
  const body = await res.text();
  if (res.status !== 200 && res.status !== 201)
    throw new Error(`PUT ${key} on ${clientUrl}: HTTP ${res.status} ${body}`);
  return Number(res.headers.get('x-etcd-index') ?? 0);
}

/**
 * Writes the seed keys to the master (local client URL, no auth), copies them (except those
 * matching `ignoreKeys`) to the replica, and records the master's index on the replica.
 * Returns that index.
 */
export async function seedData(
  masterUrl: string,
  replicaUrl: string,
  keys: SeedKey[],
  ignoreKeys: RegExp,
): Promise<number> {
  const indexes = await Promise.all(keys.map((k) => put(masterUrl, k.key, k.value)));
  const res = await fetch(`${masterUrl}/v2/keys/`);
  await res.text();
  const index = Math.max(Number(res.headers.get('x-etcd-index') ?? 0), ...indexes);
  await Promise.all(keys.filter((k) => !ignoreKeys.test(k.key)).map((k) => put(replicaUrl, k.key, k.value)));
  await put(replicaUrl, replicationIndexKey('/'), String(index));
  return index;
}
