import { ClusterError } from './errors.js';
import type { EtcdReply } from './etcd-http.js';

/** Anything that sends etcd requests (EtcdHttp; an in-memory store in unit tests). */
export interface EtcdRequester {
  readonly display: string;
  request(
    method: string,
    path: string,
    params?: Record<string, string>,
    isBodyNeededOnSuccess?: boolean,
  ): Promise<EtcdReply>;
}

/** How long a request is retried when the cluster is unreachable or answers 5xx. */
export const TRANSIENT_RETRY_MS = 30_000;

/**
 * Sends a request, retrying with backoff while the cluster is unreachable or answers with a
 * server error (a member restarting, a leader election, the proxy reloading), for up to
 * `retryForMs`. Retrying a write is safe here: a write that did land the first time is
 * recognised by the read-and-compare fallback. Errors etcd gives (4xx) come back at once.
 */
export async function requestRetrying(
  client: EtcdRequester,
  method: string,
  path: string,
  params?: Record<string, string>,
  isBodyNeededOnSuccess = true,
  retryForMs = TRANSIENT_RETRY_MS,
): Promise<EtcdReply> {
  const started = Date.now();
  let delayMs = 50;
  for (;;) {
    let failure: unknown;
    try {
      const reply = await client.request(method, path, params, isBodyNeededOnSuccess);
      if (reply.status < 500) return reply;
      failure = new ClusterError(
        `${client.display}: ${method} ${path.split('?')[0]} answered HTTP ${reply.status}`,
      );
    } catch (e) {
      if (!(e instanceof ClusterError)) throw e;
      failure = e;
    }
    if (Date.now() - started + delayMs > retryForMs) throw failure;
    await new Promise((r) => setTimeout(r, delayMs));
    delayMs = Math.min(delayMs * 2, 1000);
  }
}
