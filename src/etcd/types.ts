/** The shapes of the etcd v2 keys API, shared by the client, the watch stream and etcdmirror. */

/** A node of the v2 keyspace. */
export interface EtcdNode {
  key: string;
  value?: string;
  dir?: boolean;
  nodes?: EtcdNode[];
  createdIndex: number;
  modifiedIndex: number;
  ttl?: number;
  expiration?: string;
}

/** A change, as a watch reports it (and as every write answers). */
export interface EtcdEvent {
  action: string;
  node: EtcdNode;
  prevNode?: EtcdNode;
}

/** Index of an event: the node's modifiedIndex (also for deletes and expirations). */
export function eventIndex(e: EtcdEvent): number {
  return e.node.modifiedIndex;
}
